"""The paper receipt (办件回执) as a printer-neutral document: masked identity, case number, QR.

Always in Chinese, whatever the screen's language (kiosk.i18n): it is the official paper record that
hall staff, the platform's departments and the citizen's later queries rely on."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from devices.printer.document import QR, Cut, Feed, Receipt, Rule, Text
from kiosk.idnumber import mask_id_number

SHANGHAI = ZoneInfo("Asia/Shanghai")
RECEIPT_QR_PREFIX = "kiosk-receipt:v1?"


def receipt_qr_payload(case_no: str, query_code: str) -> str:
    """What the receipt's QR holds; the query screens parse the same format back."""
    return RECEIPT_QR_PREFIX + urlencode({"case_no": case_no, "query_code": query_code})


def mask_name(name: str) -> str:
    """王建国 → 王*国, 李四 → 李*: enough for the citizen to recognise, not to identify."""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_phone(phone: str) -> str:
    """13800138000 → 138****8000."""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "*" * len(phone)


def mask_account(number: str) -> str:
    """6222020000000000 → 6222********0000: the citizen can check the last digits, a passer-by
    cannot copy the card."""
    return number[:4] + "*" * (len(number) - 8) + number[-4:] if len(number) > 8 else "*" * len(number)


# Form fields holding an account or card number: the platform's schema has no type for them
# (platform-api.md §5.2: a plain "number"), so they are known by their field name.
_ACCOUNT_WORDS = ("account", "card_no", "card_number")


def mask_form_value(field_type: str, field: str, value: str) -> str:
    """A form answer as the review screen shows it: phone, ID and account numbers masked."""
    if not value:
        return value
    if field_type == "phone":
        return mask_phone(value)
    if field_type == "id_number":
        return mask_id_number(value)
    if any(word in field.lower() for word in _ACCOUNT_WORDS):
        return mask_account(value)
    return value


def build_receipt(
    *,
    hall_name: str,
    terminal_id: str,
    item_name: str,
    applicant_name: str,
    id_number: str,
    submitted_at: dt.datetime,
    case: dict | None,
    terminal_ref: str,
) -> Receipt:
    """`case` is the platform's answer, or None while the application waits in the outbox."""
    local = submitted_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    doc: Receipt = [
        Text("政务服务办件回执", align="center", bold=True, double=True),
        Text(hall_name, align="center"),
        Rule(),
        Text(f"事项：{item_name}"),
        Text(f"申请人：{mask_name(applicant_name)}"),
        Text(f"证件号码：{mask_id_number(id_number)}"),
        Text(f"提交时间：{local}"),
    ]
    if case:
        doc += [
            Text(f"办件编号：{case['case_no']}", bold=True),
            Text(f"查询码：{case['query_code']}", bold=True),
        ]
        if case.get("promised_days") is not None:
            doc.append(Text(f"承诺办结：{case['promised_days']}个工作日"))
        doc += [
            Rule(),
            Text("扫描下方二维码或凭办件编号和查询码查询办理进度", align="center"),
            QR(receipt_qr_payload(case["case_no"], case["query_code"]), size=6),
        ]
    else:
        doc += [
            Text(f"终端流水号：{terminal_ref}", bold=True),
            Rule(),
            Text("您的申请已保存在本机，网络恢复后将自动提交，", align="center"),
            Text("可凭终端流水号在任一自助终端查询。", align="center"),
        ]
    doc += [Rule(), Text(f"终端 {terminal_id}", align="center"), Feed(3), Cut()]
    return doc
