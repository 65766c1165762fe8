"""Case progress (§5.8) in plain words, against the platform simulator over HTTP."""

from __future__ import annotations

import uuid

import pytest

from kiosk.demo import demo_application, demo_proof
from kiosk.platform import PlatformClient
from kiosk.platform_sim import ServerThread
from kiosk.query import NOT_FOUND, STATUS_WORDS, QueryError, case_progress

TERMINAL = "T4115020001"
SECRET = "d" * 64


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    db = tmp_path_factory.mktemp("query") / "platform.db"
    with ServerThread(db, {TERMINAL: SECRET}) as sim, PlatformClient(sim.base_url, TERMINAL, SECRET) as c:
        body = demo_application(demo_proof(c), f"{TERMINAL}-{uuid.uuid4().hex[:12]}")
        accepted = c.submit_application(body, str(uuid.uuid4()))
        yield c, accepted


def test_progress_in_plain_words(case):
    client, accepted = case
    progress = case_progress(client, accepted["case_no"], accepted["query_code"])
    assert progress.case_no == accepted["case_no"] and progress.item_name == "失业登记"
    assert (progress.label, progress.explanation) == STATUS_WORDS[progress.status]
    assert progress.steps[0].label == "已申报" and "月" in progress.steps[0].at


@pytest.mark.parametrize(
    ("case_no", "query_code", "message"),
    [
        (None, "000000", NOT_FOUND),  # a real case, the wrong code: not found, nothing more said
        ("KS2026112212345678", "123456", NOT_FOUND),
        ("KS２０２６", "123456", "格式不对"),  # full-width digits are not digits here
        (None, "12345\n", "格式不对"),
    ],
)
def test_wrong_numbers_say_what_to_check(case, case_no, query_code, message):
    client, accepted = case
    with pytest.raises(QueryError, match=message):
        case_progress(client, case_no or accepted["case_no"], query_code)
