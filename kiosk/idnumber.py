"""GB 11643 ID numbers for the application core: one implementation, in the device layer (the card
parser needs it too), re-exported here so forms and the platform simulator read naturally."""

from devices.idcard.idnumber import gb11643_check_char as check_character
from devices.idcard.idnumber import is_valid_id_number, mask_id_number

__all__ = ["check_character", "is_valid_id_number", "mask_id_number"]
