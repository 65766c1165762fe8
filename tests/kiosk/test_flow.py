"""A whole 全程网办 session without Kivy: real simulators on a pty and a socket, the platform
simulator over HTTP, the encrypted outbox on disk."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from kiosk import facepose_sim
from kiosk.demo import demo_config
from kiosk.flow import FlowError, Step
from kiosk.outbox import OutboxUnavailable
from kiosk.paths import ASSETS, shared_dir
from kiosk.platform_sim import ServerThread
from kiosk.platform_sim.store import SimStore
from kiosk.service import CLOSED_REMOTE, CLOSED_STORAGE
from kiosk.session import Proof
from kiosk.wiring import open_terminal

ITEM = "KS-SAMPLE-JY-SY-0007"


def start(terminal):
    controller = terminal.controller
    flow = controller.start(controller.services.catalog.get(ITEM))
    flow.begin()
    return flow


_VIEW: list[np.ndarray] = []


def citizen(flow) -> facepose_sim.FaceActor:
    """A simulated card holder in front of the face camera who follows the challenges (the sim camera
    would replay a still photo, which liveness rightly refuses)."""
    if not _VIEW:
        _VIEW.append(facepose_sim.kiosk_view(cv2.imread(str(shared_dir() / "testdata/faces/obama.jpg"))))
    actor = facepose_sim.FaceActor(_VIEW[0], flow.services.face_detector)
    flow.services.camera = SimpleNamespace(read_frame=lambda timeout_s=2.0: actor.frame())
    return actor


def identify(terminal, flow):
    terminal.sims.idcard.insert(0)
    flow.read_card()
    flow.check_face(on_update=citizen(flow).observe)
    assert flow.step is Step.FORM


def test_online_session_end_to_end(kiosk, tmp_path):
    flow = start(kiosk)
    steps = []
    flow.on_step(steps.append)
    identify(kiosk, flow)
    assert flow.session.identity.name == "王建国" and flow.session.proof is not None
    assert flow.submit_form({"phone": "1380013800"}) == {"phone": "请输入11位手机号码。"}
    assert flow.step is Step.FORM
    assert flow.submit_form({"phone": "13800138000", "last_employer": "  "}) == {}
    review = dict(flow.review_lines())
    assert review["证件号码"] == "4115**********0031" and review["联系电话"] == "138****8000"
    flow.submit()
    case = flow.session.case
    assert flow.step is Step.RECEIPT and flow.receipt_problem is None
    job = kiosk.sims.printer.wait_for_job(timeout=5)
    assert any(case["case_no"] in line for line in job.lines)
    assert not any("411502195803120031" in line for line in job.lines)
    assert job.qr_data and case["case_no"] in job.qr_data[0]
    flow.finish_receipt()
    flow.rate(2, ["操作太复杂"])
    assert steps[-1] is Step.DONE
    store = SimStore(tmp_path / "platform.db")
    stored = store.get_case(case["case_no"])
    assert stored["item_code"] == ITEM and store.rating_count() == 1
    assert kiosk.state.counters("idcard")["reads"] == 1  # driver counters reach the state DB
    assert kiosk.state.counters("printer")["prints"] == 1
    kiosk.controller.end_session("finished")
    assert kiosk.controller.last_wiped.wiped and not kiosk.controller.last_wiped.personal_data_present


def test_bad_rating_needs_a_reason(kiosk):
    flow = start(kiosk)
    identify(kiosk, flow)
    flow.submit_form({"phone": "13800138000"})
    flow.submit()
    flow.finish_receipt()
    with pytest.raises(FlowError, match="原因"):
        flow.rate(1)
    assert flow.step is Step.RATING


def test_card_wait_can_be_cancelled(kiosk):
    flow = start(kiosk)
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    with pytest.raises(FlowError):
        flow.read_card(cancel)
    assert flow.step is Step.IDCARD and flow.session.identity is None


def test_no_face_in_front_of_the_camera_gives_guidance(tmp_path):
    blank = tmp_path / "empty-hall.png"
    cv2.imwrite(str(blank), np.full((480, 640, 3), 200, np.uint8))
    state = tmp_path / "state"
    probe = demo_config(state, "http://127.0.0.1:1")
    with (
        ServerThread(
            tmp_path / "p.db", {probe.platform.terminal_id: probe.platform.secret_file.read_text()}
        ) as s,
        open_terminal(demo_config(state, s.base_url, camera_source=blank)) as terminal,
    ):
        flow = start(terminal)
        terminal.sims.idcard.insert(0)
        flow.read_card()
        fake = [0.0]
        flow.face_clock = lambda: fake[0]
        with pytest.raises(FlowError, match="正对屏幕"):
            flow.check_face(on_update=lambda _u: fake.__setitem__(0, fake[0] + 1.0))
        assert flow.step is Step.FACE and flow.session.proof is None and flow.face_attempts == 1


def test_the_sim_camera_replaying_a_still_photo_fails_liveness(kiosk):
    flow = start(kiosk)
    kiosk.sims.idcard.insert(0)
    flow.read_card()
    with pytest.raises(FlowError):
        flow.check_face()
    assert flow.step is Step.FACE and flow.session.proof is None and flow.session.live_image is None


class FakeVerifier:
    def __init__(self, match: bool) -> None:
        self.match, self.calls = match, []

    def verify(self, identity, live_jpeg, liveness):
        self.calls.append((identity.id_number, live_jpeg, liveness))
        proof = Proof("p-1", "2030-01-01T00:00:00Z") if self.match else None
        return SimpleNamespace(
            match=self.match, score=0.9 if self.match else 0.1, threshold=0.45, proof=proof, backend="fake"
        )


def test_verify_face_sends_the_best_frame_and_active_liveness(kiosk):
    flow = start(kiosk)
    kiosk.sims.idcard.insert(0)
    flow.read_card()
    verifier = FakeVerifier(True)
    flow.services.face_verifier = verifier
    flow.face_rng = random.Random(4)
    actor = citizen(flow)
    check = flow.start_face_check()
    while check.phase in ("quality", "challenge"):
        actor.observe(check.step(actor.frame()))
    flow.verify_face(check)
    ((_id_number, jpeg, liveness),) = verifier.calls
    assert jpeg[:2] == b"\xff\xd8" and flow.session.live_image == jpeg
    assert liveness["method"] == "active" and liveness["passed"] is True and 0.5 <= liveness["score"] <= 1
    assert set(liveness) == {"method", "passed", "score"}  # platform-api §5.3
    assert flow.session.proof.proof_id == "p-1" and flow.step is Step.FORM
    assert check.best_frame is None  # the frames go once sent
    kiosk.controller.end_session("finished")
    assert kiosk.controller.last_wiped.live_image is None


def test_mismatch_counts_attempts_then_sends_to_staff(kiosk):
    flow = start(kiosk)
    kiosk.sims.idcard.insert(0)
    flow.read_card()
    flow.services.face_verifier = FakeVerifier(False)
    attempts = flow.services.config.face.attempts_before_staff
    for n in range(1, attempts + 1):
        with pytest.raises(FlowError) as err:
            flow.check_face(on_update=citizen(flow).observe)
        assert flow.face_attempts == n and flow.step is Step.FACE and flow.session.proof is None
        assert ("请联系工作人员协助" in err.value.message) == (n >= attempts)
    assert flow.session.live_image is None


def test_platform_down_at_submit_keeps_the_application_and_says_so(kiosk):
    flow = start(kiosk)
    identify(kiosk, flow)
    flow.submit_form({"phone": "13800138000"})
    kiosk.server.stop()
    flow.submit()
    assert flow.step is Step.RECEIPT and flow.session.case is None
    outbox = kiosk.controller.services.outbox
    assert outbox.counts()["pending"] == 1
    job = kiosk.sims.printer.wait_for_job(timeout=5)
    assert any(flow.session.terminal_ref in line for line in job.lines)
    flow.finish_receipt()
    assert flow.step is Step.DONE  # nothing to rate before a case number exists


def test_paper_out_keeps_the_case_and_tells_the_citizen(kiosk):
    flow = start(kiosk)
    identify(kiosk, flow)
    flow.submit_form({"phone": "13800138000"})
    kiosk.sims.printer.paper = "out"
    flow.submit()
    assert flow.session.case and flow.session.case["case_no"].startswith("KS")
    assert "回执打印失败" in flow.receipt_problem and flow.step is Step.RECEIPT


def test_actions_out_of_order_are_refused(kiosk):
    flow = start(kiosk)
    with pytest.raises(FlowError):
        flow.submit()


def test_demo_identities_are_valid_cards():
    from devices.idcard.simulator import load_identities
    from kiosk.idnumber import is_valid_id_number

    people = load_identities(Path(ASSETS / "demo" / "identities.json"))
    assert people and all(is_valid_id_number(p["id_number"]) for p in people)


def test_refused_application_is_not_called_saved_and_cannot_be_resubmitted(kiosk):
    flow = start(kiosk)
    identify(kiosk, flow)
    assert flow.submit_form({"phone": "13800138000"}) == {}
    # The platform judges differently from this terminal (say its catalog changed since our copy):
    # it refuses the case with 40001 for good.
    del flow.session.form["phone"]  # a field it now requires
    with pytest.raises(FlowError, match="人工窗口"):
        flow.submit()
    assert flow.refused and flow.step is Step.REVIEW and flow.session.case is None
    with pytest.raises(FlowError):
        flow.submit()
    assert kiosk.controller.services.outbox.counts()["failed"] == 1
    assert not kiosk.sims.printer.jobs  # no "saved" receipt for a refused application


def test_second_rating_is_refused(kiosk):
    flow = start(kiosk)
    identify(kiosk, flow)
    flow.submit_form({"phone": "13800138000"})
    flow.submit()
    flow.finish_receipt()
    flow.rate(5)
    with pytest.raises(FlowError):
        flow.rate(4)
    assert kiosk.controller.services.outbox.counts()["delivered"] == 2  # the application and one rating


def test_session_is_not_wiped_while_a_submission_is_in_flight(kiosk):
    controller = kiosk.controller
    flow = start(kiosk)
    identify(kiosk, flow)
    flow.submit_form({"phone": "13800138000"})
    flow._busy.acquire()  # as if submit() were running in the UI's worker thread
    try:
        controller.idle.timeout_s = 0.01
        controller.idle.warning_s = 0.001
        assert controller.busy and controller.tick(away_from_home=True).value == "active"
        assert controller.session is not None
    finally:
        flow._busy.release()


def _wait_for(predicate, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_reader_unplugged_mid_session_gives_a_message_and_recovers_after_replug(kiosk):
    flow = start(kiosk)
    kiosk.sims.idcard.unplug()
    with pytest.raises(FlowError) as err:
        flow.read_card()
    assert "读卡器" in err.value.message and flow.step is Step.IDCARD
    assert _wait_for(lambda: kiosk.devices.status("idcard").state.value != "online")
    kiosk.sims.idcard.replug()
    kiosk.devices.poke("idcard")
    assert _wait_for(lambda: kiosk.devices.status("idcard").state.value == "online")
    kiosk.sims.idcard.insert(0)
    flow.read_card()
    assert flow.step is Step.FACE
    snapshot = {s["name"]: s for s in kiosk.state.statuses()}
    assert snapshot["idcard"]["state"] == "online" and kiosk.state.counters("idcard").get("errors", 0) >= 1


# -- out of service ------------------------------------------------------------------------------


def _fill(outbox):
    """Leave the outbox no room: SQLite's page limit at the current size gives the SQLITE_FULL a full
    file system gives, once the free space inside the existing pages is used up too."""
    pages = outbox._db.execute("PRAGMA page_count").fetchone()[0]
    outbox._db.execute(f"PRAGMA max_page_count={pages}")
    with pytest.raises(OutboxUnavailable):
        for i in range(10_000):
            outbox.enqueue("rating", b"x" * 100, session_ref=f"filler-{i}")
    return lambda: outbox._db.execute("PRAGMA max_page_count=4294967294")


def test_full_disk_at_submit_accepts_nothing_and_closes_the_kiosk(kiosk):
    flow = start(kiosk)
    identify(kiosk, flow)
    flow.submit_form({"phone": "13800138000"})
    outbox, guard = kiosk.controller.services.outbox, kiosk.controller.services.guard
    restore = _fill(outbox)
    before = outbox.counts()
    with pytest.raises(FlowError, match="请到人工窗口办理"):
        flow.submit()
    assert flow.step is Step.REVIEW and outbox.counts() == before
    assert kiosk.sims.printer.jobs == []  # no receipt for a case that was not stored
    assert kiosk.controller.service_state().reason == "outbox_full"
    kiosk.controller.end_session("home")
    with pytest.raises(FlowError, match=CLOSED_STORAGE):
        start(kiosk)
    restore()
    guard.hold_s = 0
    assert kiosk.controller.service_state().in_service
    assert start(kiosk).step is Step.IDCARD


def test_damaged_outbox_at_start_up_keeps_the_kiosk_closed(tmp_path):
    state = tmp_path / "state"
    config = demo_config(state, "http://127.0.0.1:1")
    config.storage.outbox_db.write_bytes(b"not a database" * 512)
    with open_terminal(config) as terminal:
        assert terminal.controller.services.outbox is None
        assert terminal.controller.service_state().reason == "outbox_corrupt"
        with pytest.raises(FlowError, match=CLOSED_STORAGE):
            start(terminal)


def test_operator_command_closes_between_sessions(kiosk):
    kiosk.state.set_flag("in_service", "false")  # what the agent does on a signed out_of_service
    with pytest.raises(FlowError, match=CLOSED_REMOTE):
        start(kiosk)
    kiosk.state.set_flag("in_service", "true")
    assert start(kiosk).step is Step.IDCARD


# -- materials on the document camera ------------------------------------------------------------

SCAN_ITEM = "KS-SAMPLE-GJJ-TQ-0001"  # 退休提取公积金: M01 退休证明 may be scanned
SCAN_FORM = {"phone": "13800138000", "bank_account": "6222020000000000", "reason": "正常退休"}
_PAGE: list[bytes] = []


def page_jpeg() -> bytes:
    """A 退休证明 page as the document camera delivers it after capture (a synthetic 12 MP desk)."""
    if not _PAGE:
        from kiosk.document import capture
        from kiosk.document_synth import make_scene

        page = capture(make_scene("good").frame, "grey")
        assert page.ok
        _PAGE.append(page.jpeg)
    return _PAGE[0]


def test_scanned_pages_are_uploaded_before_the_application_that_names_them(kiosk, tmp_path):
    controller = kiosk.controller
    flow = controller.start(controller.services.catalog.get(SCAN_ITEM))
    flow.begin()
    identify(kiosk, flow)
    assert flow.submit_form(SCAN_FORM) == {}
    assert flow.step is Step.LICENSES  # 退休证 could come as an e-licence: the citizen declines
    flow.consent_licenses(False)
    assert flow.step is Step.MATERIALS and flow.current_material.name == "退休证明"
    with pytest.raises(FlowError, match="还没有拍《退休证明》"):
        flow.finish_material()
    flow.add_page(page_jpeg())
    flow.add_page(page_jpeg())
    flow.delete_last_page()  # 重拍上一页
    flow.finish_material()
    assert flow.step is Step.REVIEW and ("退休证明", "已拍 1 页") in flow.review_lines()
    assert ("收款银行卡号", "6222********0000") in flow.review_lines()  # the citizen checks the end
    flow.submit()
    case = flow.session.case
    assert flow.step is Step.RECEIPT and case is not None
    stored = SimStore(tmp_path / "platform.db").get_case(case["case_no"])
    (m01,) = stored["application"]["materials"]
    assert m01["code"] == "M01" and m01["source"] == "scan" and len(m01["material_ids"]) == 1
    outbox = controller.services.outbox
    assert outbox.counts()["delivered"] == 2 and outbox.counts()["pending"] == 0  # the page, the case
    controller.end_session("finished")
    assert not controller.last_wiped.scans and not controller.last_wiped.personal_data_present


def test_items_without_materials_skip_their_steps(kiosk):
    flow = start(kiosk)
    steps = []
    flow.on_step(steps.append)
    identify(kiosk, flow)
    assert flow.submit_form({"phone": "13800138000"}) == {}
    assert flow.step is Step.REVIEW and flow.current_material is None
    assert not {Step.LICENSES, Step.MATERIALS, Step.COMMITMENT, Step.DELIVERY} & set(steps)


def test_each_session_started_is_counted_for_the_heartbeat(kiosk):
    from kiosk import metrics

    start(kiosk)
    start(kiosk)
    assert metrics.sessions_today(kiosk.controller.services.state, time.time()) == 2
