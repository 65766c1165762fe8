"""sim:// URLs become running simulators that the real drivers open like hardware."""

from devices.idcard import IdCardReader
from devices.printer import ReceiptPrinter
from devices.simhost import SimHost
from kiosk.paths import ASSETS

IDENTITIES = ASSETS / "demo" / "identities.json"


def test_sim_urls_resolve_to_real_transports(tmp_path):
    host = SimHost()
    try:
        reader_url = host.resolve("idcard", f"sim://idcard?identities={IDENTITIES}")
        printer_url = host.resolve("printer", f"sim://printer?render={tmp_path}", {"paper_mm": 58})
        assert reader_url.startswith("serial:///") and printer_url.startswith("tcp://127.0.0.1:")
        assert host.resolve("face_camera", "sim://camera?source=x.jpg") == "sim://camera?source=x.jpg"
        assert host.resolve("printer2", "tcp://192.0.2.1:9100") == "tcp://192.0.2.1:9100"
        with ReceiptPrinter(printer_url, paper_mm=58) as printer:
            assert printer.status().details["paper"] == "full"
    finally:
        host.stop()


def test_demo_hand_puts_the_card_down_while_the_kiosk_polls(tmp_path):
    host = SimHost()
    try:
        url = host.resolve("idcard", f"sim://idcard?identities={IDENTITIES}&auto=1")
        with IdCardReader(url) as reader:
            card = reader.wait_for_card(timeout_s=10)
        assert card.card_type == "resident" and card.id_number_valid
    finally:
        host.stop()
