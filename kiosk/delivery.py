"""How the result reaches the citizen (platform-api §5.7 `delivery`): by mail to an address picked as
province → city → county (GB/T 2260) plus the detail, at the hall (pickup), or online."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kiosk.catalog import Item
from kiosk.i18n import N_, _
from kiosk.receipt import mask_phone

# Shown translated (screens, describe_delivery); the platform gets the method's code, never its name.
METHOD_NAMES = {"mail": N_("邮寄到家"), "pickup": N_("到大厅领取"), "online": N_("网上领取（电子证照）")}
MAX_DETAIL = 60  # characters of 街道门牌 after the county: a receipt line and a parcel label hold it
PHONE_DIGITS = 11


class DeliveryError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def delivery_choice(
    item: Item,
    method: str,
    address: Mapping[str, str] | None,
    *,
    recipient: str,
    phone: str | None,
) -> dict[str, Any]:
    """The §5.7 `delivery` object, checked; the recipient and phone default to the applicant's."""
    if method not in item.delivery:
        raise DeliveryError(_("这个事项不支持这种领取方式，请重新选择。"))
    if method != "mail":
        return {"method": method, "address": None}
    from kiosk.regions import is_complete  # the GB/T 2260 table loads only when an address is given

    address = address or {}
    region = address.get("region_code", "")
    detail = " ".join(address.get("detail", "").split())
    if not is_complete(region):  # a county, or a city or region with nothing below it (东莞, 香港)
        raise DeliveryError(_("请选择收件地址所在的省、市、区县。"))
    if not detail:
        raise DeliveryError(_("请填写详细地址（街道、小区、门牌号）。"))
    if len(detail) > MAX_DETAIL:
        raise DeliveryError(_("详细地址太长了，请控制在 {count} 个字以内。").format(count=MAX_DETAIL))
    phone = address.get("phone") or phone or ""
    if not (phone.isascii() and phone.isdigit() and len(phone) == PHONE_DIGITS and phone.startswith("1")):
        raise DeliveryError(_("请填写收件人的 11 位手机号码。"))
    return {
        "method": "mail",
        "address": {
            "region_code": region,
            "detail": detail,
            "recipient": address.get("recipient") or recipient,
            "phone": phone,
        },
    }


def describe_delivery(delivery: Mapping[str, Any]) -> str:
    """For the review screen: the method, and for mail the region with the phone masked (no detail)."""
    name = _(METHOD_NAMES.get(delivery["method"], delivery["method"]))
    address = delivery.get("address")
    if not address:
        return name
    from kiosk.regions import region_name

    return _("{method}：{region}，收件电话 {phone}").format(
        method=name, region=region_name(address["region_code"]), phone=mask_phone(address["phone"])
    )
