"""A whole terminal for headless flow tests: the demo config's simulated devices (real transports) and
the platform simulator over HTTP."""

from __future__ import annotations

import pytest

from kiosk.demo import demo_config
from kiosk.platform_sim import ServerThread
from kiosk.platform_sim.app import create_app
from kiosk.wiring import open_terminal


@pytest.fixture
def kiosk(tmp_path, request):
    """`@pytest.mark.case_schedule(((status, delay_s), ...))` makes cases advance on that schedule."""
    state = tmp_path / "state"
    probe = demo_config(state, "http://127.0.0.1:1")
    secret = probe.platform.secret_file.read_text()
    marker = request.node.get_closest_marker("case_schedule")
    terminals = {probe.platform.terminal_id: secret}
    schedule = tuple(marker.args[0]) if marker else ()
    app = create_app(tmp_path / "platform.db", terminals, case_schedule=schedule)
    server = ServerThread(app=app).start()
    config = demo_config(state, server.base_url)
    with open_terminal(config) as terminal:
        terminal.server = server
        yield terminal
    server.stop()
