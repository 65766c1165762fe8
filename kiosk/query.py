"""办件进度查询: a case's progress (platform-api §5.8) in plain words, from the receipt QR or from the
case number and query code typed in.

Nothing here needs the citizen's identity: the query code printed on the receipt is the key. Statuses
are explained in one short sentence each, as a 70-year-old would want them explained at the counter.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from typing import Any

from kiosk.flow import FlowError
from kiosk.i18n import N_, _
from kiosk.platform.errors import PlatformError, citizen_message

log = logging.getLogger(__name__)

CASE_NO_RE = re.compile(r"KS[0-9]{16}")  # ASCII digits only (\d admits other scripts' digits)
QUERY_CODE_RE = re.compile(r"[0-9]{6}")
NOT_FOUND = N_("没有找到这个办件，请核对回执上的办件编号和查询码。")

# Status (§5.8) → the word on the timeline and what it means for the citizen. Chinese msgids: the
# progress screen shows them translated; the platform's notes and department steps stay as sent.
STATUS_WORDS: dict[str, tuple[str, str]] = {
    "submitted": (N_("已申报"), N_("申请已提交，等待部门受理。")),
    "accepted": (N_("已受理"), N_("部门已受理，正在审核材料。")),
    "rejected": (N_("不予受理"), N_("申请未被受理，原因见下方说明，可到人工窗口咨询。")),
    "correction": (N_("补齐补正"), N_("需要补充或更正材料，请按说明补交。")),
    "processing": (N_("办理中"), N_("部门正在办理，请耐心等待。")),
    "special": (N_("特别程序"), N_("进入特别程序（如听证、公示），办理时间会延长。")),
    "approved": (N_("办结·准予"), N_("已经办好了。")),
    "denied": (N_("办结·不予许可"), N_("办理结果为不予许可，原因见下方说明。")),
    "withdrawn": (N_("已撤回"), N_("申请已撤回。")),
    "delivered": (N_("已送达"), N_("办理结果已送达。")),
}


class QueryError(FlowError):
    """A query that found nothing or could not be made; `message` is for the citizen."""


@dataclass(frozen=True)
class TimelineStep:
    label: str
    at: str  # as shown: "11月22日 09:30"
    note: str | None


@dataclass(frozen=True)
class CaseProgress:
    case_no: str
    item_name: str
    status: str
    label: str
    explanation: str
    steps: tuple[TimelineStep, ...]  # oldest first

    @property
    def departments(self) -> list[tuple[str, str]]:
        """多地联办: each department's step and where it stands, from the latest note that says so
        ("转出地审核：已完成；转入地接收：办理中"); empty for a case handled by one department."""
        for step in reversed(self.steps):
            pairs = [part.split("：", 1) for part in (step.note or "").split("；")]
            if len(pairs) > 1 and all(len(pair) == 2 and all(pair) for pair in pairs):
                return [(name, state) for name, state in pairs]
        return []


def case_progress(platform: Any, case_no: str, query_code: str) -> CaseProgress:
    """Look the case up; QueryError carries the sentence for the citizen."""
    if not CASE_NO_RE.fullmatch(case_no) or not QUERY_CODE_RE.fullmatch(query_code):
        raise QueryError(_("办件编号或查询码格式不对，请核对回执。"))
    try:
        data = platform.get_application(case_no, query_code)
    except PlatformError as err:
        log.info("case query: code %s", err.code)
        raise QueryError(_(NOT_FOUND) if err.code == 40401 else citizen_message(err)) from None
    label, explanation = STATUS_WORDS[data["status"]]
    steps = tuple(
        TimelineStep(STATUS_WORDS[e["status"]][0], _when(e["at"]), e.get("note")) for e in data["timeline"]
    )
    return CaseProgress(data["case_no"], data["item_name"], data["status"], label, explanation, steps)


def _when(text: str) -> str:
    try:
        at = dt.datetime.fromisoformat(text)
    except ValueError:
        return text
    return _("{month}月{day}日 {time}").format(month=at.month, day=at.day, time=f"{at:%H:%M}")
