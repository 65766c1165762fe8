"""China 2nd-gen ID card reader (SAM protocol): driver, card parser, watcher, WLT hook and pty simulator."""

from devices.idcard.card import IdCard, is_valid_id_number, mask_id_number
from devices.idcard.reader import IdCardReader
from devices.idcard.simulator import SamSimulator
from devices.idcard.watcher import CardWatcher
from devices.idcard.wlt import WltDecoder

__all__ = [
    "CardWatcher",
    "IdCard",
    "IdCardReader",
    "SamSimulator",
    "WltDecoder",
    "is_valid_id_number",
    "mask_id_number",
]
