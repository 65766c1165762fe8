import pytest

from kiosk.session import Identity, IdleState, IdleTimer, Proof, Session


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_wipe_forgets_everything_personal():
    session = Session()
    session.identity = Identity("王建国", "411502195803120031", "resident", "idcard")
    session.proof = Proof("p-1", "2026-11-22T10:00:00+08:00")
    session.form["phone"] = "13800138000"
    session.live_image = bytearray(b"\xff\xd8jpeg")
    image = session.live_image
    session.case = {"case_no": "KS1"}
    assert session.personal_data_present
    session.wipe()
    assert session.wiped and not session.personal_data_present
    assert session.identity is None and session.form == {} and session.case is None
    assert bytes(image) == bytes(len(image))  # the buffer itself was overwritten


def test_idle_timer_warns_then_expires_and_touch_resets():
    clock = FakeClock()
    timer = IdleTimer(90, 15, clock)
    assert timer.state() is IdleState.ACTIVE
    clock.now += 80
    assert timer.state() is IdleState.WARNING and timer.remaining() == pytest.approx(10)
    timer.touch()
    assert timer.state() is IdleState.ACTIVE
    clock.now += 90
    assert timer.state() is IdleState.EXPIRED and timer.remaining() == 0


def test_idle_timer_rejects_a_warning_longer_than_the_timeout():
    with pytest.raises(ValueError):
        IdleTimer(10, 10)
