"""Every citizen journey of issue 6 without Kivy: e-licences after consent, 信用可办 with a signature,
异地代收代办 with 形式审查 and delivery, 多地联办, login by the provincial app's code, certificates.
Real simulators (pty, socket, IPP), the platform simulator over HTTP, the encrypted outbox on disk."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from test_flow import citizen, page_jpeg

from kiosk.flow import FlowError, Step
from kiosk.platform_sim.store import SimStore
from kiosk.query import case_progress

WANG_QR = "YSB-QR:DEMO-WANGJG-0001"  # the seeded provincial-app code of demo person 0 (王建国)
WANG_PHONE = "13800000001"


def signature_png() -> bytes:
    image = Image.new("L", (400, 160), 255)
    for x in range(40, 360):
        image.putpixel((x, 80 + (x % 30) - 15), 0)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def begin(terminal, code: str, mode: str = "online", *, card: int | None = 0):
    """Start `code` in `mode` and identify: with the ID card + face (card) or the app's code."""
    controller = terminal.controller
    flow = controller.start(controller.services.catalog.get(code), mode)
    flow.begin()
    if card is None:
        flow.login_by_code(WANG_QR)
    else:
        terminal.sims.idcard.insert(card)
        flow.read_card()
        flow.check_face(on_update=citizen(flow).observe)
    return flow


def stored_application(tmp_path, flow) -> dict:
    case = flow.session.case
    assert flow.step is Step.RECEIPT and case is not None
    return SimStore(tmp_path / "platform.db").get_case(case["case_no"])["application"]


def test_e_licence_covers_the_material_after_consent(kiosk, tmp_path):
    flow = begin(kiosk, "KS-SAMPLE-GJJ-TQ-0001")
    form = {"phone": WANG_PHONE, "bank_account": "6222020000000000", "reason": "正常退休"}
    assert flow.submit_form(form) == {}
    assert flow.step is Step.LICENSES and [m.code for m in flow.licensable] == ["M01"]
    flow.consent_licenses(True)
    assert flow.step is Step.LICENSES and flow.licenses_fetched
    flow.finish_licenses()
    assert flow.step is Step.REVIEW  # never rescan what a licence covers
    assert ("退休证明", "电子证照：退休证（信阳市人力资源和社会保障局）") in flow.review_lines()
    flow.submit()
    (m01,) = stored_application(tmp_path, flow)["materials"]
    assert m01 == {"code": "M01", "source": "license", "license_id": "LIC-DEMO-0001-RET", "material_ids": []}
    assert kiosk.controller.services.outbox.counts()["delivered"] == 1  # no page was uploaded


def test_commitment_with_signature_when_no_licence_is_found(kiosk, tmp_path):
    flow = begin(kiosk, "KS-SAMPLE-YB-BA-0004")
    form = {"phone": WANG_PHONE, "settle_city": "广东省 深圳市 南山区", "start_date": "2026-12-01"}
    assert flow.submit_form(form) == {}
    flow.consent_licenses(True)  # 王建国 has no 居住证 e-licence
    assert not flow.session.licenses
    flow.finish_licenses()
    assert flow.step is Step.MATERIALS and flow.materials.can_commit()
    flow.commit_instead()
    assert flow.step is Step.COMMITMENT and "承诺" in flow.commitment_text
    with pytest.raises(FlowError, match="签名"):
        flow.sign_commitment(b"")
    flow.sign_commitment(signature_png())
    assert flow.step is Step.REVIEW and ("异地居住证明", "告知承诺（本人签名）") in flow.review_lines()
    flow.submit()
    application = stored_application(tmp_path, flow)
    assert application["materials"] == [
        {"code": "M01", "source": "commitment", "license_id": None, "material_ids": []}
    ]
    commitment = application["commitment"]
    assert commitment["accepted"] is True and commitment["signature_material_id"].startswith("MAT")
    outbox = kiosk.controller.services.outbox
    assert outbox.counts()["delivered"] == 2  # the signature, then the case that names it


def test_proxy_checklist_lists_what_is_missing_then_passes(kiosk, tmp_path):
    flow = begin(kiosk, "KS-SAMPLE-GZ-XL-0005", "proxy")
    assert flow.submit_form({"phone": WANG_PHONE, "purpose": "出国留学"}) == {}
    flow.consent_licenses(False)
    assert flow.current_material.code == "M01"
    flow.finish_material()  # the citizen has no diploma with them: 形式审查 will say so
    flow.add_page(page_jpeg())
    flow.finish_material()
    assert flow.step is Step.CHECKLIST
    sources = {m.code: source for m, source, _text in flow.checklist()}
    assert sources == {"M01": None, "M02": "scan"}
    with pytest.raises(FlowError, match="《学历证书原件》"):
        flow.pass_checklist()
    with pytest.raises(FlowError, match="顺序"):
        flow.submit()  # submission stays blocked
    flow.rescan("M01")
    assert flow.step is Step.MATERIALS and flow.current_material.code == "M01"
    flow.add_page(page_jpeg())
    flow.finish_material()
    assert flow.step is Step.CHECKLIST
    flow.pass_checklist()
    assert flow.step is Step.DELIVERY
    flow.choose_delivery("pickup")
    assert ("领取方式", "到大厅领取") in flow.review_lines()
    flow.submit()
    application = stored_application(tmp_path, flow)
    assert application["mode"] == "proxy" and application["delivery"] == {"method": "pickup", "address": None}
    assert [m["source"] for m in application["materials"]] == ["scan", "scan"]


def test_mail_delivery_needs_a_county_and_a_detail(kiosk, tmp_path):
    flow = begin(kiosk, "KS-SAMPLE-SBK-SL-0002", "proxy", card=None)  # the app's code: no face check
    assert flow.session.form["phone"] == WANG_PHONE  # offered from the platform's identity
    assert flow.submit_form({"phone": WANG_PHONE, "bank": "中国银行"}) == {}
    flow.add_page(page_jpeg())
    flow.finish_material()
    flow.pass_checklist()
    with pytest.raises(FlowError, match="不支持"):
        flow.choose_delivery("online")
    with pytest.raises(FlowError, match="省、市、区县"):
        flow.choose_delivery("mail", {"region_code": "440300", "detail": "科技园路 1 号"})  # a city only
    with pytest.raises(FlowError, match="详细地址"):
        flow.choose_delivery("mail", {"region_code": "440305", "detail": "  "})
    flow.choose_delivery("mail", {"region_code": "440305", "detail": "科技园路 1 号 3 栋 501"})
    assert ("领取方式", "邮寄到家：广东省 深圳市 南山区，收件电话 138****0001") in flow.review_lines()
    flow.submit()
    address = stored_application(tmp_path, flow)["delivery"]["address"]
    assert address == {
        "region_code": "440305",
        "detail": "科技园路 1 号 3 栋 501",
        "recipient": "王建国",
        "phone": WANG_PHONE,
    }


def test_qr_login_refuses_other_codes(kiosk):
    controller = kiosk.controller
    flow = controller.start(controller.services.catalog.get("KS-SAMPLE-JY-SY-0007"))
    flow.begin()
    with pytest.raises(FlowError, match="身份码"):
        flow.login_by_code("https://example.com/phish")
    with pytest.raises(FlowError, match="过期或无效"):
        flow.login_by_code("YSB-QR:NOBODY-0000")
    assert flow.step is Step.IDCARD and flow.session.identity is None
    flow.login_by_code(WANG_QR)
    assert flow.step is Step.FORM and flow.session.identity.source == "qr"


@pytest.mark.case_schedule((("accepted", 0.0), ("processing", 0.0), ("approved", 3600.0)))
def test_joint_item_is_one_submission_and_its_progress_shows_each_department(kiosk, tmp_path):
    flow = begin(kiosk, "KS-SAMPLE-YL-ZY-0003", "joint")
    assert flow.submit_form({"phone": WANG_PHONE, "from_region": "河南省 信阳市 浉河区"}) == {}
    flow.consent_licenses(True)  # 养老金领取证明 covers 参保缴费凭证
    flow.finish_licenses()
    assert flow.step is Step.REVIEW
    flow.submit()
    assert stored_application(tmp_path, flow)["mode"] == "joint"
    case = flow.session.case
    progress = case_progress(kiosk.controller.services.platform, case["case_no"], case["query_code"])
    assert progress.status == "processing"
    assert progress.departments == [("转出地审核", "已完成"), ("转入地接收", "办理中")]
