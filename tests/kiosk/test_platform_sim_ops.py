"""The simulator's HTML fleet page (`GET /ops`, the command form) and the `kiosk platform-sim` flags."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from kiosk.cli import build_parser, platform_sim_options
from kiosk.platform.commands import verify_command
from kiosk.platform_sim import ServerThread, create_app
from kiosk.signing import canonical_query, sign_request

TERMINAL = "T4115020001"
SECRET = "c" * 64
HOSTILE_TERMINAL = '<script>alert("t")</script>&'
CATALOG = Path(__file__).resolve().parents[2] / "assets" / "catalog" / "seed_catalog.json"
INTERVAL = 10
HEARTBEAT: dict[str, Any] = {
    "software_version": "1.0.0",
    "uptime_s": 5,
    "in_service": True,
    "devices": [
        {"name": "printer", "kind": "printer", "state": "paper_out", "details": {}, "action": "clear"},
        {"name": "idcard", "kind": "idcard", "state": "error", "details": {}, "action": "maintenance"},
        {"name": "camera", "kind": "camera", "state": "ok", "details": {}, "action": None},
    ],
    "outbox": {"pending": 3, "oldest_age_s": 42},
    "disk_free_mb": 2048,
    "sessions_today": 7,
}


class Client:
    """requests against a live simulator, with relative paths."""

    def __init__(self, base_url: str) -> None:
        self.base_url, self.http = base_url, requests.Session()

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        kw.setdefault("timeout", 10)
        if "follow_redirects" in kw:
            kw["allow_redirects"] = kw.pop("follow_redirects")
        if "content" in kw:
            kw["data"] = kw.pop("content")
        return self.http.request(method, self.base_url + path, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.request("POST", path, **kw)


class Sim:
    def __init__(self, client: Client, clock: list[float]) -> None:
        self.client, self.clock = client, clock

    def signed(self, method: str, path: str, body: Any, terminal: str = TERMINAL, secret: str = SECRET):
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = sign_request(
            secret, terminal, method, path, canonical_query(None), data, now_ms=int(self.clock[0] * 1000)
        )
        headers["Content-Type"] = "application/json"
        return self.client.request(method, path, content=data, headers=headers)

    def heartbeat(self, terminal: str = TERMINAL, secret: str = SECRET) -> dict[str, Any]:
        resp = self.signed("POST", "/terminal/v1/heartbeat", HEARTBEAT, terminal, secret)
        assert resp.status_code == 200, resp.text
        return resp.json()["data"]


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Sim]:
    clock = [1_750_000_000.0]  # 2025-06-15 23:06:40 +08:00
    app = create_app(
        tmp_path / "platform.db",
        {TERMINAL: SECRET, HOSTILE_TERMINAL: "d" * 64},
        CATALOG,
        clock=lambda: clock[0],
        enrollment_tokens={"tok-1"},
        heartbeat_interval_s=INTERVAL,
    )
    with ServerThread(app=app) as server:
        client = Client(server.base_url)
        yield Sim(client, clock)
        client.http.close()


def test_page_lists_terminals_after_heartbeat(sim: Sim) -> None:
    sim.heartbeat()
    resp = sim.client.get("/ops")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    page = resp.text
    assert TERMINAL in page
    assert "在线" in page and "2025-06-15 23:06:40" in page  # Asia/Shanghai wall-clock time
    assert "服务中" in page
    assert "printer" in page and "需大厅工作人员处理" in page
    assert "idcard" in page and "需技术人员维修" in page
    assert "camera" not in page  # healthy devices are not listed
    assert "3 件" in page and "42 秒" in page and "2048 MB" in page
    assert f'action="/ops/terminals/{TERMINAL}/commands"' in page
    assert 'method="post"' in page and '<option value="restart">' in page
    assert "<script" not in page.replace("&lt;script", "")  # no scripts at all
    # the terminal that never sent a heartbeat is listed as offline
    assert "离线" in page and "从未上报" in page


def test_terminal_goes_offline_after_missed_heartbeats(sim: Sim) -> None:
    sim.heartbeat()
    sim.clock[0] += 3 * INTERVAL + 1
    page = sim.client.get("/ops").text
    row = next(r for r in page.split("<tr>") if TERMINAL + "<" in r)
    assert "离线" in row and "2025-06-15 23:06:40" in row


def test_page_escapes_hostile_values(sim: Sim) -> None:
    hall = '<img src=x onerror="alert(1)">大厅&'
    enroll = {
        "enrollment_token": "tok-1",
        "terminal_id": "T-NEW-01",
        "hall_name": hall,
        "region_code": "411502",
        "hardware": {"model": "K1", "serial": "SN1", "devices": ["printer"]},
        "software_version": "1.0.0",
    }
    resp = sim.client.post("/terminal/v1/enroll", json=enroll)
    assert resp.json()["code"] == 0, resp.text
    page = sim.client.get("/ops").text
    assert hall not in page and "<img" not in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;大厅&amp;" in page
    assert HOSTILE_TERMINAL not in page and "<script>" not in page
    assert "&lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt;&amp;" in page
    # the form action is URL-quoted, then HTML-escaped
    assert 'action="/ops/terminals/%3Cscript%3Ealert%28%22t%22%29%3C%2Fscript%3E%26/commands"' in page


def test_form_post_queues_a_signed_command(sim: Sim) -> None:
    resp = sim.client.post(
        f"/ops/terminals/{TERMINAL}/commands",
        content=b"name=out_of_service",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert resp.status_code == 303 and resp.headers["location"] == "/ops"
    commands = sim.heartbeat()["commands"]
    assert [c["name"] for c in commands] == ["out_of_service"]
    assert commands[0]["args"] == {}
    assert verify_command(commands[0], SECRET, sim.clock[0])
    assert not verify_command(commands[0], "e" * 64, sim.clock[0])
    # the page counts it as pending; following the redirect lands on the page
    page = sim.client.post(
        f"/ops/terminals/{TERMINAL}/commands",
        data={"name": "restart"},
    )
    assert page.status_code == 200 and "自助终端运行状态" in page.text
    listed = sim.client.get("/ops/terminals").json()["terminals"]
    assert next(t for t in listed if t["terminal_id"] == TERMINAL)["pending_commands"] == 2


def test_form_post_rejects_unknown_command(sim: Sim) -> None:
    resp = sim.client.post(f"/ops/terminals/{TERMINAL}/commands", data={"name": "format_disk"})
    assert resp.status_code == 400 and "指令无效" in resp.text
    resp = sim.client.post(f"/ops/terminals/{TERMINAL}/commands", content=b"")
    assert resp.status_code == 400
    assert sim.heartbeat()["commands"] == []


def test_form_post_unknown_terminal_is_404_page(sim: Sim) -> None:
    resp = sim.client.post("/ops/terminals/T-NOPE/commands", data={"name": "restart"})
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("text/html")
    assert "未找到终端" in resp.text and 'href="/ops"' in resp.text


def test_admin_json_endpoint_still_queues(sim: Sim) -> None:
    resp = sim.client.post(f"/admin/terminals/{TERMINAL}/commands", json={"name": "sync_catalog"})
    assert resp.json()["code"] == 0
    assert sim.client.post("/admin/terminals/T-NOPE/commands", json={"name": "restart"}).status_code == 404
    commands = sim.heartbeat()["commands"]
    assert [c["name"] for c in commands] == ["sync_catalog"]
    assert verify_command(commands[0], SECRET, sim.clock[0])


# -- kiosk platform-sim flags -----------------------------------------------------------------------


def test_platform_sim_defaults_give_no_options() -> None:
    args = build_parser().parse_args(["platform-sim"])
    assert platform_sim_options(args) == {}


def test_platform_sim_flags_become_app_options(tmp_path: Path) -> None:
    args = build_parser().parse_args(
        [
            "platform-sim",
            "--fault-latency-ms",
            "250",
            "--fault-error-rate",
            "0.3",
            "--fault-status",
            "429",
            "--fault-retry-after-s",
            "7",
            "--fault-drop-rate",
            "0.1",
            "--maintenance",
            "--enrollment-token",
            "tok-a",
            "--enrollment-token",
            "tok-b",
            "--heartbeat-interval-s",
            "30",
        ]
    )
    options = platform_sim_options(args)
    assert options == {
        "enrollment_tokens": ("tok-a", "tok-b"),
        "heartbeat_interval_s": 30,
        "initial_faults": {
            "latency_ms": 250,
            "error_rate": 0.3,
            "status": 429,
            "retry_after_s": 7,
            "drop_rate": 0.1,
            "maintenance": True,
        },
    }
    app = create_app(tmp_path / "p.db", {}, CATALOG, **options)
    assert app.faults is not None and app.faults.model_dump() == options["initial_faults"]
    assert app.state.ctx.heartbeat_interval_s == 30


def test_platform_sim_maintenance_alone_blocks_terminal_api(tmp_path: Path) -> None:
    args = build_parser().parse_args(["platform-sim", "--maintenance", "--fault-retry-after-s", "5"])
    app = create_app(tmp_path / "p.db", {}, CATALOG, **platform_sim_options(args))
    with ServerThread(app=app) as server:
        client = Client(server.base_url)
        resp = client.get("/terminal/v1/catalog")
        assert resp.json()["code"] == 50301 and resp.headers["Retry-After"] == "5"
        assert client.get("/admin/faults").json()["data"]["maintenance"] is True


@pytest.mark.parametrize(
    "argv",
    [
        ["--fault-status", "404"],
        ["--fault-error-rate", "1.5"],
        ["--fault-drop-rate", "-0.1"],
        ["--fault-latency-ms", "-1"],
        ["--heartbeat-interval-s", "0"],
    ],
)
def test_platform_sim_rejects_bad_flags(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["platform-sim", *argv])
