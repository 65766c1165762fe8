"""Citizen flows as small state machines, independent of Kivy: screens render `flow.step` and call
the action for it; the flow alone decides what comes next.

Blocking actions (card read, face check, submit) are plain methods; the UI runs them in a worker
thread and the tests call them directly. Every failure a citizen can see is a `FlowError` carrying
one short sentence that says what to do next, in the citizen's language (kiosk.i18n, Chinese first).
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from devices.base import DeviceError
from kiosk.application import application_body, new_terminal_ref, rating_body
from kiosk.catalog import MODE_NAMES, Item, Material
from kiosk.delivery import DeliveryError, delivery_choice, describe_delivery
from kiosk.face import encode_jpeg
from kiosk.face_check import FaceCheck, FaceUpdate
from kiosk.forms import validate_form
from kiosk.i18n import N_, _
from kiosk.idnumber import mask_id_number
from kiosk.materials import MaterialMissing, MaterialPlan
from kiosk.outbox import OutboxUnavailable, material_ref
from kiosk.platform.errors import PlatformError
from kiosk.qr import classify
from kiosk.receipt import build_receipt, mask_form_value, mask_name
from kiosk.services import Services
from kiosk.session import Identity, Proof, Session

log = logging.getLogger(__name__)

CARD_WAIT_S = 60.0
CERTIFICATE_PRINT_S = 120.0  # a page or two; longer means the printer needs someone
NOT_STORED = N_("本机暂时无法保存申请，请到人工窗口办理。")  # nothing was accepted; the kiosk closes
RECEIPT_FAILED = N_("回执打印失败，您的申请已经保存。请记下屏幕上的编号，或联系工作人员补打。")
ID_TYPES = {"resident": "resident", "hmt_permit": "hmt_permit"}  # both foreigner cards → foreign_permanent


class Step(enum.StrEnum):
    GUIDE = "guide"  # the item's guide: conditions, materials, time limits
    IDCARD = "idcard"  # the ID card, or the provincial app's identity code
    FACE = "face"
    FORM = "form"
    LICENSES = "licenses"  # consent, then the citizen's e-licences fetched (全程证通)
    MATERIALS = "materials"  # the document camera, or the commitment instead
    COMMITMENT = "commitment"  # 告知承诺书 and a handwritten signature (信用可办)
    CHECKLIST = "checklist"  # 形式审查 (异地代收代办)
    DELIVERY = "delivery"  # mail (address), pickup or online
    REVIEW = "review"
    RECEIPT = "receipt"
    CERTIFICATE = "certificate"  # 查询打印: a certificate fetched and printed on A4
    RATING = "rating"
    DONE = "done"


_APPLY = [Step.GUIDE, Step.IDCARD, Step.FACE, Step.FORM, Step.LICENSES, Step.MATERIALS, Step.COMMITMENT]
_FINISH = [Step.DELIVERY, Step.REVIEW, Step.RECEIPT, Step.RATING, Step.DONE]
# Every step a mode may pass through, in order; `Flow._needed` skips those this item and citizen need not.
STEPS: dict[str, list[Step]] = {
    "online": _APPLY + _FINISH,
    "proxy": [*_APPLY, Step.CHECKLIST, *_FINISH],
    "joint": _APPLY + _FINISH,  # one submission; the progress shows every department's step
    "query": [Step.GUIDE, Step.IDCARD, Step.FACE, Step.CERTIFICATE, Step.DONE],
}
LICENSES_UNAVAILABLE = N_("电子证照暂时无法调取，请点“拍摄纸质材料”继续办理。")


class FlowError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Flow:
    def __init__(self, services: Services, session: Session, item: Item, mode: str = "online") -> None:
        if mode not in STEPS or mode not in item.modes:
            raise ValueError(f"mode {mode!r} is not available for item {item.code}")
        self.services, self.session, self.item, self.mode = services, session, item, mode
        self.materials = MaterialPlan(
            item, session.scans, session.licenses, session.committed, allow_missing=mode == "proxy"
        )
        self.steps = STEPS[mode]
        self.step = self.steps[0]
        self.licenses_fetched = False  # consent given and the platform asked: the list is on screen
        self.receipt_problem: str | None = None  # set when the case is safe but the paper failed (msgid)
        self.submitted_at: dt.datetime | None = None
        self.refused = False  # the platform refused the application for good: only 返回首页 is left
        self._busy = threading.Lock()  # one submission / one rating at a time, whatever the taps
        self._listeners: list[Callable[[Step], None]] = []
        self.face_attempts = 0  # failed face checks and mismatches in this session
        self.face_rng: random.Random | None = None  # challenge order; seeded only in tests
        self.face_clock: Callable[[], float] = time.monotonic  # injected in tests
        self.time_factor = 1  # 长者模式 gives more time (set by the controller)
        session.item_code, session.mode = item.code, mode

    # -- observation -------------------------------------------------------------------------
    def on_step(self, listener: Callable[[Step], None]) -> None:
        self._listeners.append(listener)

    def _go(self, step: Step) -> None:
        log.info("flow %s: %s -> %s", self.mode, self.step, step)
        self.step = step
        for listener in list(self._listeners):
            listener(step)

    def _advance(self) -> None:
        later = self.steps[self.steps.index(self.step) + 1 :]
        self._go(next(step for step in later if self._needed(step)))

    def _needed(self, step: Step) -> bool:
        """Whether this item and this citizen need `step` now (asked when the flow moves on)."""
        plan, session = self.materials, self.session
        match step:
            case Step.FACE:
                return session.proof is None  # the provincial app's code brings its own proof
            case Step.LICENSES:
                return bool(plan.licensable)
            case Step.MATERIALS:
                return plan.current is not None
            case Step.COMMITMENT:
                return plan.needs_commitment and session.signature is None
            case Step.DELIVERY:
                return set(self.item.delivery) != {"online"}
            case _:
                return True

    def _expect(self, step: Step) -> None:
        if self.step != step or self.refused:
            raise FlowError(_("操作顺序有误，请返回首页重新开始。"))

    @property
    def busy(self) -> bool:
        """True while a submission or rating is under way: the session must not be wiped then."""
        return self._busy.locked()

    # -- actions -----------------------------------------------------------------------------
    def begin(self) -> None:
        self._expect(Step.GUIDE)
        self._advance()

    def read_card(self, cancel: threading.Event | None = None) -> None:
        self._expect(Step.IDCARD)
        try:
            card = self.services.idcard.wait_for_card(CARD_WAIT_S, cancel)
        except DeviceError as err:
            log.warning("card read failed: %s", err.detail or err.completion)
            raise FlowError(_(err.message)) from None  # the driver's sentence is a msgid too
        if not card.id_number_valid:
            log.warning("card read: id number failed its check digit")
            raise FlowError(_("证件信息读取有误，请重新放置身份证。"))
        self.session.identity = Identity(
            name=card.name,
            id_number=card.id_number,
            id_type=ID_TYPES.get(card.card_type, "foreign_permanent"),
            source="idcard",
            gender=card.gender,
            birth_date=card.birth_date,
        )
        self._advance()

    def login_by_code(self, payload: str) -> None:
        """The provincial app's identity code instead of card + face (platform-api §5.4): the platform
        vouches for the citizen, so its proof replaces the face check."""
        self._expect(Step.IDCARD)
        scan = classify(payload)
        if scan.kind != "identity" or not scan.ok:
            if scan.refusal:
                raise FlowError(_(scan.refusal))
            raise FlowError(_("这不是政务服务身份码，请打开手机上的政务服务应用出示身份码。"))
        try:
            result = self.services.platform.qr_login(scan.text)
        except PlatformError as err:
            log.info("qr login refused: code=%s", err.code)
            if err.code == 40401:
                raise FlowError(_("身份码已过期或无效，请在手机上刷新身份码后再扫。")) from None
            raise FlowError(err.citizen_message) from None
        who = result.identity
        self.session.identity = Identity(who.name, who.id_number, "resident", source="qr")
        self.session.proof = Proof(result.proof.proof_id, result.proof.expires_at)
        if who.phone and any(spec.field == "phone" for spec in self.item.form):
            self.session.form.setdefault("phone", who.phone)  # offered on the form, still editable
        log.info("qr login: identity confirmed by the platform")
        self._advance()

    # -- FACE: the screen drives start_face_check() / FaceCheck.step() / verify_face() ----------
    def start_face_check(self) -> FaceCheck:
        """A fresh face check for the screen to feed with camera frames (kiosk.face_check)."""
        self._expect(Step.FACE)
        face = self.services.config.face
        if self.time_factor != 1:  # 长者模式: more time for the head movements too
            face = face.model_copy(update={"liveness_timeout_s": face.liveness_timeout_s * self.time_factor})
        return FaceCheck(self.services.face_detector, face, rng=self.face_rng, clock=self.face_clock)

    def check_face(
        self,
        on_update: Callable[[FaceUpdate], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        """Headless convenience: reads frames until the face check ends, then verifies.
        `on_update` sees every FaceUpdate (a simulated citizen uses it to act out the challenges)."""
        check = self.start_face_check()
        try:
            while check.phase in ("quality", "challenge"):
                if cancel is not None and cancel.is_set():
                    raise FlowError(_("已取消人脸识别。"))
                try:
                    frame = self.services.camera.read_frame(2.0)
                except DeviceError as err:
                    log.warning("camera failed: %s", err.detail or err.completion)
                    raise FlowError(_(err.message)) from None
                update = check.step(frame)
                if on_update is not None:
                    on_update(update)
            self.verify_face(check)
        finally:
            check.wipe()

    def verify_face(self, check: FaceCheck) -> None:
        """Send the check's best frame for the 1:1 match (platform-api §5.3) and move on when it matches.
        A failed check or a mismatch counts as an attempt; after `attempts_before_staff` the message sends
        the citizen to staff."""
        self._expect(Step.FACE)
        identity = self.session.identity
        assert identity is not None  # the IDCARD step sets it
        try:
            if check.phase != "passed" or check.best_frame is None:
                raise self._face_failure(check.failure_prompt)
            self.session.live_image = encode_jpeg(check.best_frame)
            liveness = {"method": "active", "passed": True, "score": round(check.liveness_score, 3)}
            verifier = self.services.face_verifier
            if verifier is None:
                raise FlowError(_("人脸核验暂时无法使用，请联系工作人员。"))
            try:
                result = verifier.verify(identity, self.session.live_image, liveness)
            except PlatformError as err:
                log.warning("face verify failed: code=%s", err.code)
                raise FlowError(err.citizen_message) from None
            log.info(
                "face verify backend=%s match=%s score=%.2f threshold=%.2f",
                result.backend,
                result.match,
                result.score,
                result.threshold,
            )
            if not result.match or result.proof is None:
                self.session.live_image = None  # not the card holder's face: keep nothing of it
                raise self._face_failure(N_("人脸与证件照片不一致，请摘下帽子和眼镜，正对屏幕再试一次。"))
            self.session.proof = result.proof
            self._advance()
        finally:
            check.wipe()

    def _face_failure(self, message: str) -> FlowError:
        """`message`: a Chinese msgid (the face check's failure prompt or a mismatch)."""
        self.face_attempts += 1
        if self.face_attempts >= self.services.config.face.attempts_before_staff:
            return FlowError(_("多次核验未通过，请联系工作人员协助。"))
        return FlowError(_(message))

    def submit_form(self, values: dict[str, str]) -> dict[str, str]:
        """Returns the problems per field; with none, the values are kept and the flow moves on."""
        self._expect(Step.FORM)
        cleaned = {k: v.strip() for k, v in values.items() if v and v.strip()}
        errors = validate_form(self.item.form, cleaned)
        if not errors:
            self.session.form = cleaned
            self._advance()
        return errors

    # -- LICENSES: e-licences, only with the citizen's consent (domain.md §4) --------------------
    @property
    def licensable(self) -> list[Material]:
        """The materials an e-licence could provide (listed on the consent screen)."""
        return self.materials.licensable

    def consent_licenses(self, agree: bool) -> None:
        """With consent, ask the platform for the citizen's licences and keep those that cover a
        material (the screen then lists them: `materials.licenses`); without, go to the camera."""
        self._expect(Step.LICENSES)
        if not agree:
            log.info("e-licences: consent declined")
            self._advance()
            return
        proof = self.session.proof
        assert proof is not None  # identity comes before materials
        types = sorted({m.license_type for m in self.licensable if m.license_type})
        try:
            found = self.services.platform.query_licenses(proof.proof_id, types)
        except PlatformError as err:
            log.warning("e-licence query failed: code=%s", err.code)
            raise FlowError(_(LICENSES_UNAVAILABLE)) from None
        covered = self.materials.apply_licenses(lic.model_dump() for lic in found)
        log.info("e-licences: %d found, %d materials covered", len(found), len(covered))
        self.licenses_fetched = True
        self._go(Step.LICENSES)  # the same screen, now with what was found

    def finish_licenses(self) -> None:
        self._expect(Step.LICENSES)
        self._advance()

    # -- MATERIALS: the document camera, or the commitment instead ----------------------------
    @property
    def current_material(self) -> Material | None:
        return self.materials.current if self.step is Step.MATERIALS else None

    def pages(self) -> list[bytes]:
        return self.materials.pages()

    def add_page(self, jpeg: bytes) -> None:
        self._expect(Step.MATERIALS)
        self._on_materials(self.materials.add, jpeg)

    def delete_last_page(self) -> None:
        self._expect(Step.MATERIALS)
        self.materials.delete_last()

    def finish_material(self) -> None:
        """The citizen is done with this material: the next one, or on to what follows."""
        self._expect(Step.MATERIALS)
        self._next_material(self._on_materials(self.materials.finish_current))

    def commit_instead(self) -> None:
        """信用可办: the citizen will sign the commitment instead of providing this material."""
        self._expect(Step.MATERIALS)
        self._next_material(self._on_materials(self.materials.commit_current))

    def _next_material(self, done: bool) -> None:
        if done:
            self._advance()
        else:
            self._go(Step.MATERIALS)  # the same screen, for the next material

    @staticmethod
    def _on_materials(action: Callable[..., Any], *args: Any) -> Any:
        try:
            return action(*args)
        except MaterialMissing as err:
            raise FlowError(err.message) from None

    # -- COMMITMENT: 告知承诺书 + handwritten signature ------------------------------------------
    @property
    def commitment_text(self) -> str:
        return self.item.commitment_text or ""

    def sign_commitment(self, signature_png: bytes) -> None:
        self._expect(Step.COMMITMENT)
        if not signature_png.startswith(b"\x89PNG\r\n\x1a\n"):
            raise FlowError(_("没有收到签名，请在框内重新签名。"))
        self.session.signature = signature_png
        self._advance()

    # -- CHECKLIST: 形式审查 of the materials (异地代收代办) -------------------------------------
    def checklist(self) -> list[tuple[Material, str | None, str]]:
        return self.materials.checklist()

    def pass_checklist(self) -> None:
        """Every required material present, or a FlowError naming each one that is missing."""
        self._expect(Step.CHECKLIST)
        missing = self.materials.missing()
        if missing:
            names = _("、").join(_("《{name}》").format(name=m.name) for m in missing)
            log.info("形式审查: %d required materials missing", len(missing))
            raise FlowError(_("材料不齐全，还缺少{names}。请点“补拍”补交后再提交。").format(names=names))
        self._advance()

    def rescan(self, code: str) -> None:
        """From the checklist back to the camera for one material."""
        self._expect(Step.CHECKLIST)
        self._on_materials(self.materials.go_to, code)
        self._go(Step.MATERIALS)

    # -- DELIVERY: mail, pickup or online --------------------------------------------------------
    def choose_delivery(self, method: str, address: Mapping[str, str] | None = None) -> None:
        self._expect(Step.DELIVERY)
        identity = self.session.identity
        assert identity is not None
        try:
            self.session.delivery = delivery_choice(
                self.item, method, address, recipient=identity.name, phone=self.session.form.get("phone")
            )
        except DeliveryError as err:
            raise FlowError(err.message) from None
        self._advance()

    def review_lines(self) -> list[tuple[str, str]]:
        """What the citizen checks before submitting, with personal data masked; the fixed labels in
        the citizen's language, the catalog's field labels and names as published (Chinese)."""
        identity = self.session.identity
        assert identity is not None
        lines = [
            (_("办理事项"), self.item.name),
            (_("办理方式"), _(MODE_NAMES[self.mode])),
            (_("申请人"), mask_name(identity.name)),
            (_("证件号码"), mask_id_number(identity.id_number)),
        ]
        for spec in self.item.form:
            value = mask_form_value(spec.type, spec.field, self.session.form.get(spec.field, ""))
            lines.append((spec.label, value or _("（未填写）")))
        lines += self.materials.summary()
        if self.session.delivery is not None:
            lines.append((_("领取方式"), describe_delivery(self.session.delivery)))
        return lines

    # -- CERTIFICATE: 查询打印 ---------------------------------------------------------------------
    def print_certificate(self) -> None:
        """Fetch the item's certificate for the identified citizen (platform-api §5.10) and print it on
        A4; the document is kept only until the printer has it."""
        self._expect(Step.CERTIFICATE)
        proof, kind, printer = self.session.proof, self.item.certificate_kind, self.services.a4_printer
        assert proof is not None and kind is not None
        if printer is None:
            raise FlowError(_("本机暂时不能打印证明，请到人工窗口打印。"))
        try:
            self.session.certificate = self.services.platform.certificate(kind, proof.proof_id)
            job = printer.print_pdf(self.session.certificate, self.item.name)
            printer.wait_job(job, CERTIFICATE_PRINT_S)
        except PlatformError as err:
            log.warning("certificate fetch failed: code=%s", err.code)
            raise FlowError(err.citizen_message) from None
        except DeviceError as err:
            log.warning("certificate print failed: %s", err.detail or err.completion)
            raise FlowError(_(err.message)) from None
        finally:
            self.session.certificate = None
        log.info("certificate %s printed", kind)
        self._advance()

    def submit(self) -> None:
        """Store the application durably, try to deliver it now, then print the receipt.

        Once stored, the application is never stored again: every later problem ends on the
        receipt step (or, if the platform refused it, with a message), never back at 确认提交.
        """
        if not self._busy.acquire(blocking=False):
            raise FlowError(_("正在提交，请稍候。"))
        try:
            self._expect(Step.REVIEW)
            record_id = self._store_application()
            self._deliver(record_id)
            self._print_receipt()
            self._advance()
        finally:
            self._busy.release()

    def _store_application(self) -> str:
        now = dt.datetime.now(dt.UTC)
        self.submitted_at = now
        self.session.terminal_ref = new_terminal_ref(self.services.config.terminal.id, now)
        outbox = self.services.outbox
        if outbox is None:
            raise FlowError(_(NOT_STORED))  # the kiosk is out of service; no case is taken
        try:
            with outbox.transaction():  # the pages and the application are stored together or not at all

                def stored(data: bytes, content_type: str) -> str:
                    ref = self.session.id
                    record = outbox.enqueue("material", data, session_ref=ref, content_type=content_type)
                    return material_ref(record.id)

                refs = {
                    m.code: [stored(p, "image/jpeg") for p in self.materials.pages(m.code)]
                    for m in self.materials.scanned()
                }
                materials = self.materials.application_entries(refs)
                signature = self.session.signature
                body = application_body(
                    self.session,
                    self.item,
                    submitted_at=now,
                    materials=materials,
                    signature_ref=None if signature is None else stored(signature, "image/png"),
                )
                record = outbox.enqueue("application", body, session_ref=self.session.id)
        except OutboxUnavailable as err:  # a full disk or broken DB: nothing was accepted, so say so plainly
            if self.services.guard is not None:
                self.services.guard.outbox_failed(err.reason)  # and take no new case until it is fixed
            raise FlowError(_(NOT_STORED)) from None
        return record.id

    def _deliver(self, record_id: str) -> None:
        outbox = self.services.outbox
        try:
            outbox.deliver_session(self.services.platform, self.session.id)  # pages first, then the case
            record = outbox.get(record_id)
        except Exception as err:  # stays pending in the outbox; the agent delivers it later
            log.warning("delivery attempt failed: %s", type(err).__name__)
            record = outbox.get(record_id)
        log.info("application %s state=%s", self.session.terminal_ref, record.state)
        if record.state == "failed":
            self.refused = True
            log.warning("platform refused the application: code=%s", record.last_code)
            if record.last_code == 40302:
                raise FlowError(_("身份核验已过期，请返回首页重新办理。"))
            raise FlowError(_("申请未被受理，请到人工窗口咨询办理。"))
        if record.state == "delivered":
            self.session.case = outbox.response(record_id)

    def _print_receipt(self) -> None:
        identity = self.session.identity
        assert identity is not None
        config = self.services.config
        try:
            doc = build_receipt(
                hall_name=config.terminal.hall_name,
                terminal_id=config.terminal.id,
                item_name=self.item.name,
                applicant_name=identity.name,
                id_number=identity.id_number,
                submitted_at=self.submitted_at or dt.datetime.now(dt.UTC),
                case=self.session.case,
                terminal_ref=self.session.terminal_ref or "",
            )
            self.services.printer.print_receipt(doc)
        except DeviceError as err:
            log.warning("receipt print failed: %s", err.detail or err.completion)
            self.receipt_problem = RECEIPT_FAILED
        except Exception:  # the case is safe; a receipt problem must not undo that
            log.exception("receipt could not be built or printed")
            self.receipt_problem = RECEIPT_FAILED

    def finish_receipt(self) -> None:
        self._expect(Step.RECEIPT)
        # Rating needs a case number; an application still waiting in the outbox is rated later.
        self._go(Step.RATING if self.session.case else Step.DONE)

    def rate(self, satisfaction: int, reasons: list[str] | None = None) -> None:
        self._expect(Step.RATING)
        case = self.session.case
        assert case is not None
        reasons = reasons or []
        if satisfaction <= 2 and not reasons:
            raise FlowError(_("请选择一个不满意的原因。"))
        body = rating_body(
            case["case_no"], self.item.code, satisfaction, reasons, rated_at=dt.datetime.now(dt.UTC)
        )
        record = self.services.outbox.enqueue("rating", body, session_ref=self.session.id)
        self.services.outbox.deliver(self.services.platform, record.id)
        self.session.rating = satisfaction
        self._advance()

    def skip_rating(self) -> None:
        self._expect(Step.RATING)
        self._advance()
