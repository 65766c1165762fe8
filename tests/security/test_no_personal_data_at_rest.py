"""After 100 scripted sessions, nothing personal is left in clear: not in any file of the state directory
(SQLite databases and their -wal/-shm files read as raw bytes), not in the logs, not in a metrics scrape.

The sessions run headless on the real application core (kiosk.flow through the controller): a card read
from the SAM reader simulator over a pty, the face match by the platform simulator, the form, the
submission through the encrypted outbox, the printed receipt, the rating. Only the camera part of the
face check is skipped (a passed check is handed to `verify_face`): it adds time and no data at rest.
The test people are made up here, with valid GB 11643 numbers, so no other test's data can hide a leak.
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import numpy as np
import pytest
import requests

from kiosk.agent import Agent
from kiosk.demo import DEMO_ITEM, demo_config
from kiosk.flow import Step
from kiosk.idnumber import check_character
from kiosk.platform_sim import ServerThread
from kiosk.wiring import open_terminal

SESSIONS = 100
PEOPLE = 25
SURNAMES = "欧阳司马上官诸葛东方皇甫尉迟公孙慕容长孙"
GIVEN = "霁瑶珩琰璟瑭翊翎砚筠蘅芷澜樾"


def make_people(rng: random.Random) -> list[dict[str, str]]:
    """Made-up residents: compound surnames and rare characters, so a match in the scan is a leak."""
    people = []
    for n in range(PEOPLE):
        surname = SURNAMES[2 * (n % 8) : 2 * (n % 8) + 2]
        name = surname + rng.choice(GIVEN) + rng.choice(GIVEN)
        body = f"411502{1950 + n:04d}{1 + n % 12:02d}{1 + n % 28:02d}{rng.randrange(1000):03d}"
        people.append(
            {
                "card_type": "resident",
                "name": name,
                "gender": "男" if n % 2 else "女",
                "nation": "汉",
                "birth_date": f"{1950 + n:04d}-{1 + n % 12:02d}-{1 + n % 28:02d}",
                "address": f"河南省信阳市浉河区测试路{100 + n}号",
                "id_number": body + check_character(body),
                "issuer": "信阳市公安局浉河分局",
                "valid_from": "2016-05-20",
                "valid_to": "长期",
                "appended_address": None,
                "phone": f"139{rng.randrange(10**8):08d}",
            }
        )
    return people


def needles(person: dict[str, str]) -> dict[str, bytes]:
    """Every form in which a person's data could sit in a file, a log line or a metric."""
    out = {}
    for field in ("id_number", "phone"):
        out[field] = person[field].encode("ascii")
        out[field + " (utf-16)"] = person[field].encode("utf-16-le")
    for encoding in ("utf-8", "gb18030", "utf-16-le"):
        out[f"name ({encoding})"] = person["name"].encode(encoding)
    out["name (json escape)"] = json.dumps(person["name"]).strip('"').encode("ascii")
    return out


class PassedCheck:
    """Stands in for a FaceCheck whose liveness passed (what verify_face reads)."""

    def __init__(self, frame: np.ndarray) -> None:
        self.phase, self.best_frame, self.liveness_score, self.failure_prompt = "passed", frame, 0.93, ""

    def wipe(self) -> None:
        self.best_frame = None


def run_session(terminal, person_index: int, person: dict[str, str], frame: np.ndarray, n: int) -> str:
    """One citizen at the kiosk; returns how the session ended."""
    controller = terminal.controller
    flow = controller.start(controller.services.catalog.get(DEMO_ITEM))
    flow.begin()
    terminal.sims.idcard.insert(person_index)
    flow.read_card()
    assert flow.session.identity.id_number == person["id_number"]
    flow.verify_face(PassedCheck(frame.copy()))
    assert flow.step is Step.FORM
    assert flow.submit_form({"phone": person["phone"]}) == {}
    if n % 10 == 9:  # some walk away at the review: wiped by the idle timeout, nothing stored
        controller.request_help("review")
        controller.end_session("idle timeout")
        return "timeout"
    flow.submit()
    assert flow.step is Step.RECEIPT and flow.session.case, flow.receipt_problem
    terminal.sims.printer.wait_for_job(timeout=10)
    flow.finish_receipt()
    flow.rate(5)
    controller.end_session("finished")
    return "submitted"


@pytest.mark.timeout(240)
def test_hundred_sessions_leave_nothing_personal_in_clear(tmp_path, caplog):
    rng = random.Random(20261122)
    people = make_people(rng)
    identities = tmp_path / "people.json"
    identities.write_text(json.dumps({"identities": people}, ensure_ascii=False), encoding="utf-8")
    state_dir = tmp_path / "state"
    probe = demo_config(state_dir, "http://127.0.0.1:1")
    secret = probe.platform.secret_file.read_text().strip()
    caplog.set_level(logging.DEBUG)
    with ServerThread(tmp_path / "platform.db", {probe.platform.terminal_id: secret}) as sim:
        config = demo_config(state_dir, sim.base_url)
        devices = {name: dev for name, dev in config.devices.items() if name in ("face_camera",)}
        devices["idcard"] = config.devices["idcard"].model_copy(
            update={"url": f"sim://idcard?identities={identities}"}
        )
        # the receipts the virtual printer renders are what the citizen takes away: outside the state dir
        devices["printer"] = config.devices["printer"].model_copy(
            update={"url": f"sim://printer?render={tmp_path / 'printed'}"}
        )
        config = config.model_copy(update={"devices": devices})
        frame = np.random.default_rng(7).integers(0, 255, (160, 160, 3), dtype=np.uint8)
        ends = []
        with open_terminal(config) as terminal:
            # the same SAM protocol over the same pty, without the simulated RF delay and wire pacing
            terminal.sims.idcard.pace = False
            for n in range(SESSIONS):
                index = n % PEOPLE
                ends.append(run_session(terminal, index, people[index], frame, n))
            agent = Agent(
                config,
                terminal.controller.services.outbox,
                terminal.controller.services.platform,
                terminal.state,
                secret,
            )
            assert agent.run_once().heartbeat
            server = agent.serve_metrics(port=0)
            assert server is not None
            try:
                scrape = requests.get(server.url, timeout=5).text
            finally:
                server.close()
            heartbeat = json.dumps(agent.heartbeat_body(), ensure_ascii=False)
    assert ends.count("submitted") == 90 and 'kiosk_sessions_total{result="submitted"} 90.0' in scrape
    assert 'kiosk_submissions_total{result="delivered"} 90.0' in scrape
    assert 'kiosk_upload_duration_seconds_count{kind="application",result="ok"} 90.0' in scrape  # UI side
    assert 'kiosk_face_verify_duration_seconds_count{result="match"} 100.0' in scrape

    logs = "\n".join(f"{r.name} {r.levelname} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    sources: dict[str, bytes] = {
        "logs": logs.encode("utf-8"),
        "metrics": scrape.encode("utf-8"),
        "heartbeat": heartbeat.encode("utf-8"),
    }
    files = [p for p in state_dir.rglob("*") if p.is_file()]
    assert any(p.name == "outbox.db" for p in files) and any(p.name == "state.db" for p in files)
    sources |= {str(p.relative_to(tmp_path)): p.read_bytes() for p in files}
    assert sum(len(b) for b in sources.values()) > 100_000  # the cases are really in there, sealed

    leaks = [
        f"{where}: {what} of person {i}"
        for where, data in sources.items()
        for i, person in enumerate(people)
        for what, needle in needles(person).items()
        if needle in data
    ]
    assert leaks == []


def test_the_scan_would_find_a_leak(tmp_path):
    """The needles are the right bytes: a clear-text copy in a SQLite file is found."""
    import sqlite3

    person = make_people(random.Random(1))[0]
    db = sqlite3.connect(tmp_path / "leak.db")
    db.execute("CREATE TABLE t (v TEXT)")
    db.execute("INSERT INTO t VALUES (?)", (f"{person['name']} {person['id_number']} {person['phone']}",))
    db.commit()
    db.close()
    data = Path(tmp_path / "leak.db").read_bytes()
    found = {what for what, needle in needles(person).items() if needle in data}
    assert {"id_number", "phone", "name (utf-8)"} <= found
    receipt = ("申请人：" + person["name"]).encode("gb18030")  # what a printer is sent
    assert {what for what, needle in needles(person).items() if needle in receipt} == {"name (gb18030)"}
