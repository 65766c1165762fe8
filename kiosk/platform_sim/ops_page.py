"""The plain HTML fleet page behind `GET /ops`: one server-rendered table, no scripts, Chinese labels.

Every value that came from a terminal or an operator goes through `html.escape`. The page shows the
terminal id, hall, state and counters only; never a person's name or ID number (a heartbeat carries
none, and device `details` are left out on purpose).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any
from urllib.parse import quote

from kiosk.platform_sim.core import CST

__all__ = ["ACTION_LABELS", "COMMAND_LABELS", "render_fleet_page", "render_message_page"]

ACTION_LABELS = {"clear": "需大厅工作人员处理", "maintenance": "需技术人员维修"}
COMMAND_LABELS = {
    "restart": "重启",
    "out_of_service": "暂停服务",
    "in_service": "恢复服务",
    "sync_catalog": "同步事项目录",
    "upload_logs": "上传日志",
    "print_test_page": "打印测试页",
}
_STYLE = (
    "body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
    "th,td{border:1px solid #999;padding:.3em .6em;vertical-align:top;text-align:left}"
    ".online{color:#070}.offline{color:#b00}ul{margin:0;padding-left:1.2em}"
)


def _h(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{_h(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{_h(title)}</h1>{body}</body></html>\n"
    )


def _local_time(ts: float | None) -> str:
    """Asia/Shanghai (UTC+8, no daylight saving) wall-clock time."""
    if ts is None:
        return "从未上报"
    return dt.datetime.fromtimestamp(ts, CST).strftime("%Y-%m-%d %H:%M:%S")


def _age(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 120:
        return f"{seconds} 秒"
    if seconds < 7200:
        return f"{seconds // 60} 分钟"
    return f"{seconds // 3600} 小时"


def _devices(devices: Sequence[Mapping[str, Any]]) -> str:
    if not devices:
        return "无"
    items = []
    for d in devices:
        action = ACTION_LABELS.get(d.get("action") or "", "需处理")
        items.append(f"<li>{_h(d.get('name'))}（{_h(d.get('state'))}）：{_h(action)}</li>")
    return "<ul>" + "".join(items) + "</ul>"


def _form(terminal_id: str, command_names: Iterable[str]) -> str:
    options = "".join(
        f'<option value="{_h(name)}">{_h(COMMAND_LABELS.get(name, name))}</option>' for name in command_names
    )
    action = "/ops/terminals/" + quote(terminal_id, safe="") + "/commands"
    return (
        f'<form method="post" action="{_h(action)}" enctype="application/x-www-form-urlencoded">'
        f'<select name="name" aria-label="指令">{options}</select> '
        '<button type="submit">发送指令</button></form>'
    )


def _row(t: Mapping[str, Any], command_names: Sequence[str]) -> str:
    online = t.get("online")
    status = (
        '<span class="online">在线</span>' if online else '<span class="offline">离线</span>'
    ) + f"<br>最后心跳：{_h(_local_time(t.get('last_heartbeat_ts')))}"
    in_service = t.get("in_service")
    service = "—" if in_service is None else ("服务中" if in_service else "暂停服务")
    disk = t.get("disk_free_mb")
    outbox = f"{_h(t.get('outbox_pending', 0))} 件"
    if t.get("outbox_pending"):
        outbox += f"<br>最早：{_h(_age(t.get('outbox_oldest_age_s')))}前"
    cells = [
        _h(t["terminal_id"]),
        _h(t.get("hall_name") or "—"),
        status,
        _h(service),
        _devices(t.get("devices_needing_action") or []),
        outbox,
        "—" if disk is None else f"{_h(disk)} MB",
        _h(t.get("pending_commands", 0)),
        _form(t["terminal_id"], command_names),
    ]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def render_fleet_page(
    terminals: Sequence[Mapping[str, Any]], command_names: Sequence[str], now: float
) -> str:
    """`terminals`: the rows of `GET /ops/terminals` plus `last_heartbeat_ts` and `hall_name`."""
    head = [
        "终端编号",
        "所在大厅",
        "在线状态",
        "服务状态",
        "待处理设备",
        "待上报件",
        "磁盘剩余",
        "待执行指令",
        "发送指令",
    ]
    header = "<tr>" + "".join(f"<th>{_h(h)}</th>" for h in head) + "</tr>"
    rows = "".join(_row(t, command_names) for t in terminals)
    if not rows:
        rows = f'<tr><td colspan="{len(head)}">暂无终端</td></tr>'
    body = (
        f"<p>页面生成时间：{_h(_local_time(now))}（北京时间）</p>"
        f"<table><thead>{header}</thead><tbody>{rows}</tbody></table>"
    )
    return _page("自助终端运行状态", body)


def render_message_page(title: str, message: str) -> str:
    return _page(title, f'<p>{_h(message)}</p><p><a href="/ops">返回终端列表</a></p>')
