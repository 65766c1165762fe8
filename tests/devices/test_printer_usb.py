"""usb://VID:PID printers (python-escpos Usb over pyusb): parsing and the not-connected path. A real
USB printer is needed for the rest; none is attached to the test machines."""

import pytest

from devices.base import Action, Completion, DeviceError, DeviceState
from devices.printer import ReceiptPrinter
from devices.printer.transport import parse_url


def test_usb_urls_parse_to_vendor_and_product():
    endpoint = parse_url("usb://0416:5011")
    assert endpoint.scheme == "usb" and endpoint.target == "0416:5011"
    with pytest.raises(DeviceError) as err:
        parse_url("usb://printer")
    assert err.value.completion is Completion.UNSUPPORTED


def test_absent_usb_printer_is_not_ready_and_reported_offline():
    printer = ReceiptPrinter("usb://0416:5011", timeout_s=1.0)
    with pytest.raises(DeviceError) as err:
        printer.open()
    assert err.value.completion is Completion.DEVICE_NOT_READY
    assert err.value.action is Action.MAINTENANCE and err.value.message
    status = printer.status()
    assert status.state is DeviceState.OFFLINE and status.details["paper"] == "unknown"
