from kiosk.catalog import load_catalog
from kiosk.controller import KioskController
from kiosk.demo import demo_config
from kiosk.services import Services
from kiosk.session import Identity, IdleState


class FakeClock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def controller(tmp_path, clock):
    config = demo_config(tmp_path, "http://127.0.0.1:1")
    services = Services(config, load_catalog(), None, None, None, None, None, None)  # no device is touched
    return KioskController(services, clock)


def test_idle_timeout_wipes_the_session(tmp_path):
    clock = FakeClock()
    ctl = controller(tmp_path, clock)
    flow = ctl.start(ctl.services.catalog.get("KS-SAMPLE-JY-SY-0007"))
    flow.session.identity = Identity("王建国", "411502195803120031", "resident", "idcard")
    clock.now += 80
    assert ctl.tick(away_from_home=True) is IdleState.WARNING
    clock.now += 11
    assert ctl.tick(away_from_home=True) is IdleState.EXPIRED
    assert ctl.session is None and ctl.flow is None
    assert ctl.last_wiped.wiped and ctl.last_wiped.identity is None
    assert ctl.last_outcome["reason"] == "idle timeout"


def test_activity_and_home_keep_the_timer_fresh(tmp_path):
    clock = FakeClock()
    ctl = controller(tmp_path, clock)
    ctl.start(ctl.services.catalog.get("KS-SAMPLE-JY-SY-0007"))
    clock.now += 85
    ctl.user_activity()
    assert ctl.tick(away_from_home=True) is IdleState.ACTIVE
    clock.now += 500
    assert ctl.tick(away_from_home=False) is IdleState.ACTIVE  # nothing to time out at home


def test_elderly_mode_gives_twice_the_time(tmp_path):
    clock = FakeClock()
    ctl = controller(tmp_path, clock)
    ctl.elderly = True
    flow = ctl.start(ctl.services.catalog.get("KS-SAMPLE-JY-SY-0007"))
    assert flow.time_factor == 2
    clock.now += 91  # past the normal 90 s
    assert ctl.tick(away_from_home=True) is IdleState.ACTIVE
    clock.now += 60  # 151 s: inside the 30 s warning before 180 s
    assert ctl.tick(away_from_home=True) is IdleState.WARNING
    ctl.elderly = False  # back home: the normal times again
    assert (ctl.idle.timeout_s, ctl.idle.warning_s) == (90, 15)
