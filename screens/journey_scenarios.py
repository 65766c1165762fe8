"""The scripted journeys of issue 6 beyond 全程网办: e-licences, 信用可办, 异地代收代办 (with 形式审查
and delivery), 多地联办, certificates and the provincial app's code. Mixed into ScenarioRunner, whose
primitives (screen, shot, tap, wait, frames) they use."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

# A 12 MP frame is analysed per preview frame (~0.5 s of CPU): on a loaded 2-core machine the five steady
# frames before the auto-capture can take longer than a step's 45 s.
PAGE_TIMEOUT_S = 120.0

if TYPE_CHECKING:
    from screens.scenario import Script

DEMO_PHONE = "13800138000"
QR_LOGIN_PAYLOAD = b"YSB-QR:DEMO-WANGJG-0001"  # 王建国's seeded provincial-app identity code
LICENSE_ITEM = "KS-SAMPLE-GJJ-TQ-0001"  # 退休证明 ← 退休证 e-licence
COMMITMENT_ITEM = "KS-SAMPLE-YB-BA-0004"  # 异地就医备案: 居住证明 or 告知承诺
PROXY_ITEM = "KS-SAMPLE-SBK-SL-0002"  # 社会保障卡申领: 全程网办 or 异地代收代办, mail or pickup
NOTARY_ITEM = "KS-SAMPLE-GZ-XL-0005"  # 学历公证: two papers, 异地代收代办
JOINT_ITEM = "KS-SAMPLE-YL-ZY-0003"  # 养老保险关系转移: 多地联办
CERTIFICATE_ITEM = "KS-SAMPLE-SB-CB-0006"  # 社会保险参保证明查询打印
EMPTY_DESK = np.full((720, 960, 3), 96, np.uint8)  # the document camera sees no page


class JourneyScenarios:
    app: Any
    terminal: Any
    summary: dict[str, Any]
    artifacts: Path

    # -- helpers ------------------------------------------------------------------------------
    def _start_item(self, item_code: str, start: str = "start", *, via: str = "tile:kuasheng") -> Script:
        yield from self.screen("home")
        yield from self.shot("home")
        yield from self.tap(via)
        yield from self.screen("catalog")
        yield from self.tap(f"item:{item_code}")
        yield from self.screen("guide")
        yield from self.shot("guide")
        yield from self.tap(start)
        yield from self.screen("idcard")
        yield from self.shot("idcard")

    def _card_and_face(self, then: str = "form") -> Script:
        self.terminal.sims.idcard.insert(0)
        yield from self.screen("face")
        yield from self.pause(1.0)
        yield from self.shot("face")
        self.terminal.sims.idcard.remove()
        yield from self._face_passed(then)

    def _pinyin(self, letters: str, candidate: int = 0) -> Script:
        """Letters on the pinyin keyboard, then a candidate from the bar."""
        for letter in letters:
            yield from self.tap(f"key:{letter}")
        yield from self.tap(f"cand:{candidate}")

    def _licences(self, agree: bool) -> Script:
        yield from self.screen("licenses")
        yield from self.shot("licenses")
        yield from self.tap("license:agree" if agree else "license:decline")
        if agree:
            yield from self.wait(lambda: self.app.controller.flow.licenses_fetched, "the licences fetched")
            yield from self.frames(3)
            yield from self.shot("licenses-found", "licenses")
            yield from self.tap("next")

    def _take_page(self, label: str = "materials") -> Script:
        flow = self.app.controller.flow
        before = len(flow.pages())
        yield from self.wait(lambda: len(flow.pages()) > before, "the page taken by itself", PAGE_TIMEOUT_S)
        yield from self.frames(3)
        yield from self.shot(label, "materials")
        yield from self.tap("doc:done")

    def _sign(self) -> Script:
        from screens.touch import ScriptedTouch

        yield from self.wait(lambda: self.find("sign:pad") is not None, "the signature pad")
        pad = self.find("sign:pad")
        assert pad is not None
        x0, y0 = pad.to_window(pad.x, pad.y)
        points = [(0.15 + 0.7 * t / 40, 0.5 + 0.25 * np.sin(t / 4)) for t in range(41)]  # a wavy name
        touch = ScriptedTouch(x0 + points[0][0] * pad.width, y0 + points[0][1] * pad.height)
        touch.touch_down()
        for fx, fy in points[1:]:
            touch.touch_move(x0 + fx * pad.width, y0 + fy * pad.height)
            yield from self.frames(1)
        touch.touch_up()
        yield from self.frames(3)
        yield from self.shot("commitment-signed", "commitment")
        yield from self.tap("sign:done")

    def _sbk_to_delivery(self) -> Script:
        """社会保障卡申领 异地代收代办 up to the delivery choice: card, face, form, the photo, 形式审查."""
        yield from self._start_item(PROXY_ITEM, "start:proxy")
        yield from self._card_and_face()
        yield from self._type("phone", DEMO_PHONE)
        yield from self.tap("choice:bank:中国银行")
        yield from self.tap("next")
        yield from self.screen("materials")
        yield from self._take_page()
        yield from self.screen("checklist")
        yield from self.shot("checklist")
        yield from self.tap("next")
        yield from self.screen("delivery")
        yield from self.shot("delivery")

    def _review_submit(self) -> Script:
        yield from self.screen("review")
        yield from self.shot("review")
        yield from self._submit_rate_finish()

    # -- scenarios ----------------------------------------------------------------------------
    def scenario_license(self) -> Script:
        """退休提取公积金 with the 退休证 fetched as an e-licence after consent: nothing to photograph."""
        yield from self._start_item(LICENSE_ITEM)
        yield from self._card_and_face()
        yield from self._type("phone", DEMO_PHONE)
        yield from self._type("bank_account", "6222020000000000")
        yield from self.tap("choice:reason:正常退休")
        yield from self.tap("next")
        yield from self._licences(agree=True)
        yield from self._review_submit()

    def scenario_commitment(self) -> Script:
        """异地就医备案 without a 居住证 e-licence or paper: the citizen signs the 告知承诺书 instead."""
        yield from self._start_item(COMMITMENT_ITEM)
        yield from self._card_and_face()
        yield from self._type("phone", DEMO_PHONE)
        yield from self.tap("field:settle_city")
        yield from self._pinyin("shenzhen")
        yield from self.tap("field:start_date")
        for digit in "20261201":
            yield from self.tap(f"key:{digit}")
        yield from self.shot("form-filled", "form")
        yield from self.tap("next")
        yield from self._licences(agree=True)  # 王建国 has none: the screen says so
        yield from self.screen("materials")
        self.terminal.sims.cameras["document_camera"].show(EMPTY_DESK, loop=True)
        yield from self.shot("materials")
        yield from self.tap("doc:commit")
        yield from self.screen("commitment")
        yield from self.shot("commitment")
        yield from self._sign()
        yield from self._review_submit()

    def scenario_proxy(self) -> Script:
        """社会保障卡申领 异地代收代办: the photo scanned and sent, 形式审查 passes, pickup at the hall."""
        yield from self._sbk_to_delivery()
        yield from self.tap("delivery:pickup")
        yield from self._review_submit()

    def scenario_proxy_incomplete(self) -> Script:
        """学历公证: the diploma is not on the camera; 形式审查 refuses with what is missing, the
        citizen takes the missing page (补拍) and it passes."""
        document_camera = self.terminal.sims.cameras["document_camera"]
        yield from self._start_item(NOTARY_ITEM)
        yield from self._card_and_face()
        yield from self._type("phone", DEMO_PHONE)
        yield from self.tap("field:purpose")
        yield from self._pinyin("liuxue")
        yield from self.tap("next")
        yield from self._licences(agree=False)
        yield from self.screen("materials")
        document_camera.show(EMPTY_DESK, loop=True)  # no diploma with them
        yield from self.pause(0.5)
        yield from self.shot("materials-empty", "materials")
        yield from self.tap("doc:done")
        yield from self.frames(3)
        self._show_page(document_camera)
        yield from self._take_page("materials-second")
        yield from self.screen("checklist")
        yield from self.tap("next")
        yield from self.wait(lambda: self.app.screen.error_message is not None, "形式审查 refuses")
        self.summary["checklist_refusal"] = self.app.screen.error_message
        yield from self.shot("checklist-refused", "checklist")
        document_camera.show(EMPTY_DESK, loop=True)
        yield from self.tap("rescan:M01")
        yield from self.screen("materials")
        self._show_page(document_camera)
        yield from self._take_page("materials-rescanned")
        yield from self.screen("checklist")
        yield from self.shot("checklist-complete", "checklist")
        yield from self.tap("next")
        yield from self.screen("delivery")
        yield from self.tap("delivery:pickup")
        yield from self._review_submit()

    def scenario_mail_delivery(self) -> Script:
        """社会保障卡申领 by mail: province → city → county, then the street on the pinyin keyboard."""
        yield from self._sbk_to_delivery()
        yield from self.tap("delivery:mail")
        for code in ("440000", "440300"):
            yield from self.tap(f"region:{code}")
        yield from self.shot("delivery-region", "delivery")
        yield from self.tap("region:440305")
        yield from self.wait(lambda: self.find("delivery:confirm") is not None, "the address detail")
        yield from self._pinyin("kejiyuan")
        for key in ("kb:mode", "key:1", "key:号"):
            yield from self.tap(key)
        yield from self.shot("delivery-address", "delivery")
        yield from self.tap("delivery:confirm")
        yield from self._review_submit()
        self.summary["delivery"] = "mail"

    def scenario_joint(self) -> Script:
        """养老保险关系转移 多地联办: one submission; the progress then shows each department's step."""
        yield from self._start_item(JOINT_ITEM)
        yield from self._card_and_face()
        yield from self._type("phone", DEMO_PHONE)
        yield from self.tap("field:from_region")
        yield from self._pinyin("xinyang")
        yield from self.tap("next")
        yield from self._licences(agree=True)
        yield from self.screen("review")
        yield from self.shot("review")
        yield from self.tap("submit")
        yield from self.screen("receipt")
        yield from self.shot("receipt")
        self._copy_receipt()
        case = dict(self.app.controller.session.case or {})
        yield from self.tap("next")
        yield from self.screen("rating")
        yield from self.tap("rate:4")
        yield from self.screen("done")
        self._record_outcome()
        yield from self.tap("finish")
        yield from self.screen("home")
        yield from self.pause(7.0)  # the departments move on (the demo platform's schedule)
        self.app.lookup_case(case["case_no"], case["query_code"], self.app.screen.show_error)
        yield from self.screen("progress")
        progress = self.app.manager.get_screen("progress").progress
        self.summary["departments"] = [list(pair) for pair in progress.departments]
        yield from self.shot("progress")
        yield from self.tap("finish")
        yield from self.screen("home")

    def scenario_certificate(self) -> Script:
        """社会保险参保证明: identity, then the certificate printed on A4."""
        yield from self.screen("home")
        yield from self.tap("tile:query")
        yield from self.screen("query")
        yield from self.tap("query:certificates")
        yield from self.screen("catalog")
        yield from self.shot("catalog")
        yield from self.tap(f"item:{CERTIFICATE_ITEM}")
        yield from self.screen("guide")
        yield from self.tap("start")
        yield from self.screen("idcard")
        yield from self._card_and_face("certificate")
        yield from self.shot("certificate")
        yield from self.screen("done")
        yield from self.shot("done")
        self._record_outcome()
        self._copy_certificate()
        yield from self.tap("finish")
        yield from self.screen("home")

    def scenario_qr_login(self) -> Script:
        """The provincial app's identity code on the scanner instead of the card and the face check."""
        yield from self._start_item("KS-SAMPLE-JY-SY-0007")
        self.terminal.sims.scanner.scan(QR_LOGIN_PAYLOAD)
        yield from self.screen("form")
        self.summary["identity_source"] = self.app.controller.session.identity.source
        yield from self.shot("form")
        yield from self.tap("next")  # the phone number came with the identity
        yield from self._review_submit()

    def scenario_english(self) -> Script:
        """The online journey in English: 'English' on home, every screen after it in English, and the
        home screen back in Chinese once the citizen has gone (the language goes with the session)."""
        from kiosk.i18n import current_language

        yield from self.screen("home")
        yield from self.shot("home")
        yield from self.tap("lang:en")
        yield from self.wait(lambda: self.find("lang:zh") is not None, "the home screen in English")
        self.summary["language"] = current_language()
        yield from self.shot("home-en", "home")
        yield from self.tap("tile:kuasheng")
        yield from self.screen("catalog")
        yield from self.shot("catalog")
        yield from self._after_catalog("KS-SAMPLE-JY-SY-0007")  # 失业登记: guide, card, face, form
        yield from self._type("phone", DEMO_PHONE)
        yield from self.shot("form-filled")
        yield from self.tap("next")
        yield from self._review_submit()  # review, receipt, rating, done, home again
        yield from self.wait(lambda: self.find("lang:en") is not None, "the home screen in Chinese")
        self.summary["language_after"] = current_language()

    # -- artefacts ----------------------------------------------------------------------------
    @staticmethod
    def _show_page(camera: Any) -> None:
        """A page laid under the document camera (the demo's synthetic desk with a page)."""
        from kiosk.demo import demo_page_scene

        camera.show(demo_page_scene(), loop=True)

    def _copy_certificate(self) -> None:
        printer = getattr(self.terminal.sims, "a4printer", None)
        jobs = getattr(printer, "jobs", [])
        if not jobs:
            raise RuntimeError("no certificate was printed")
        self.summary["certificate_bytes"] = len(jobs[-1].data)
        if jobs[-1].png_paths:
            shutil.copy(jobs[-1].png_paths[0], self.artifacts / "certificate.png")
