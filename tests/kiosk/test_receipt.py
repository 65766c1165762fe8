import datetime as dt

from devices.printer.document import QR, Text
from kiosk.receipt import build_receipt, mask_form_value, mask_name, receipt_qr_payload

NOW = dt.datetime(2026, 11, 22, 1, 30, tzinfo=dt.UTC)
CASE = {"case_no": "KS2026112200000001", "query_code": "123456", "promised_days": 1}


def texts(doc):
    return "\n".join(e.text for e in doc if isinstance(e, Text))


def make(case):
    return build_receipt(
        hall_name="浉河区政务服务中心",
        terminal_id="T4115020001",
        item_name="失业登记",
        applicant_name="王建国",
        id_number="411502195803120031",
        submitted_at=NOW,
        case=case,
        terminal_ref="T4115020001-20261122013000-abcdef",
    )


def test_receipt_masks_identity_and_carries_case_in_qr():
    doc = make(CASE)
    body = texts(doc)
    assert "411502195803120031" not in body and "4115**********0031" in body
    assert "王建国" not in body and "王*国" in body
    assert "2026-11-22 09:30" in body  # shown in Asia/Shanghai
    qr = [e for e in doc if isinstance(e, QR)]
    assert qr and qr[0].data == receipt_qr_payload(CASE["case_no"], CASE["query_code"])
    assert CASE["case_no"] in qr[0].data


def test_pending_receipt_has_no_qr_and_shows_the_terminal_reference():
    doc = make(None)
    assert not [e for e in doc if isinstance(e, QR)]
    assert "T4115020001-20261122013000-abcdef" in texts(doc)


def test_mask_name():
    assert [mask_name(n) for n in ("王", "李四", "王建国", "欧阳娜娜")] == ["王", "李*", "王*国", "欧**娜"]


def test_review_masks_phone_id_and_account_numbers_and_nothing_else():
    assert mask_form_value("phone", "phone", "13800138000") == "138****8000"
    assert mask_form_value("id_number", "agent_id", "411502195803120031") == "4115**********0031"
    assert mask_form_value("number", "bank_account", "6222020000000000") == "6222********0000"
    assert mask_form_value("text", "salary_card_no", "1234567") == "*******"  # too short to show any
    assert mask_form_value("number", "amount", "1500") == "1500"  # an amount is no secret
    assert mask_form_value("number", "bank_account", "") == ""
