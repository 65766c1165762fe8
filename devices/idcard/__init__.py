"""China 2nd-gen ID card reader (SAM protocol): driver, card parser and pty simulator."""

from devices.idcard.card import IdCard, is_valid_id_number, mask_id_number
from devices.idcard.reader import IdCardReader
from devices.idcard.simulator import SamSimulator

__all__ = ["IdCard", "IdCardReader", "SamSimulator", "is_valid_id_number", "mask_id_number"]
