import io
import json
import logging

from kiosk.logs import redact, setup_logging


def test_redact_masks_id_numbers_and_phones_but_not_case_numbers():
    text = "id 11010519491231002X phone 13800138000 case KS2026112212345678 ref T4115020001"
    assert redact(text) == "id [id-number] phone [phone] case KS2026112212345678 ref T4115020001"


def test_redact_leaves_hex_ids_whole_and_masks_numbers_next_to_chinese():
    record_id = "20c0355ec6254f1db19646183982c469"  # an outbox record id that CI saw masked
    assert redact(f"record {record_id} delivered") == f"record {record_id} delivered"
    assert redact("电话13800138000，身份证11010519491231002X") == "电话[phone]，身份证[id-number]"


def test_log_lines_are_json_and_redacted_including_arguments():
    stream = io.StringIO()
    handler = setup_logging("INFO", stream)
    try:
        logging.getLogger("t").warning("card %s read", "420527198311115318")
    finally:
        logging.getLogger().removeHandler(handler)
    entry = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert entry["msg"] == "card [id-number] read" and entry["level"] == "warning"
