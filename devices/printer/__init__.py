"""Printing: a receipt document model, the ESC/POS driver, a virtual printer and the CUPS A4 driver."""

# First: escpos reads where to cache its capabilities when it is first imported.
from devices.printer import escpos_cache  # noqa: F401  # isort: skip
from devices.printer.a4 import A4Printer
from devices.printer.document import PAPER_COLUMNS, QR, Cut, Element, Feed, Receipt, Rule, Text, columns
from devices.printer.encode import encode_receipt
from devices.printer.receipt import ReceiptPrinter, build_test_page
from devices.printer.virtual import Job, VirtualEscposPrinter

__all__ = [
    "PAPER_COLUMNS",
    "QR",
    "A4Printer",
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
