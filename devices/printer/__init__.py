"""Receipt printing: a printer-neutral document model, the ESC/POS driver and a virtual printer."""

from devices.printer.document import PAPER_COLUMNS, QR, Cut, Element, Feed, Receipt, Rule, Text, columns
from devices.printer.encode import encode_receipt
from devices.printer.receipt import ReceiptPrinter, build_test_page
from devices.printer.virtual import Job, VirtualEscposPrinter

__all__ = [
    "PAPER_COLUMNS",
    "QR",
    "Cut",
    "Element",
    "Feed",
    "Job",
    "Receipt",
    "ReceiptPrinter",
    "Rule",
    "Text",
    "VirtualEscposPrinter",
    "build_test_page",
    "columns",
    "encode_receipt",
]
