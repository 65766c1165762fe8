"""`kiosk outbox …` and `kiosk submit`: reading the durable queue, and putting a prepared case in it."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from kiosk.cli_common import config_arg, json_arg
from kiosk.outbox_terms import STATES
from kiosk.ui_settings import ConfigError

if TYPE_CHECKING:
    from kiosk.outbox import Outbox


def add_outbox_commands(sub: argparse._SubParsersAction) -> None:
    outbox = sub.add_parser("outbox", help="the durable queue of materials, applications and ratings")
    osub = outbox.add_subparsers(dest="outbox_command", required=True, metavar="ACTION")
    status = osub.add_parser("status", help="how many records are pending, sending, delivered, failed")
    config_arg(status)
    json_arg(status)
    status.set_defaults(handler=cmd_outbox_status)

    listing = osub.add_parser("list", help="records with state, attempts and the platform's last answer")
    config_arg(listing)
    json_arg(listing)
    listing.add_argument("--state", choices=STATES, help="only records in this state")
    listing.add_argument("--limit", type=int, default=50, help="newest first, at most this many")
    listing.set_defaults(handler=cmd_outbox_list)

    ack = osub.add_parser("ack", help="mark failed records as followed up by staff (clears the alert)")
    config_arg(ack)
    ack.add_argument("records", nargs="*", metavar="RECORD", help="record ids (as listed); none: every one")
    ack.set_defaults(handler=cmd_outbox_ack)

    submit = sub.add_parser("submit", help="queue an application (JSON file) with its attachments")
    config_arg(submit)
    json_arg(submit)
    submit.add_argument("--file", type=Path, required=True, help='{"application": …, "attachments": …}')
    submit.set_defaults(handler=cmd_submit)


def _open(args: argparse.Namespace) -> Outbox:
    from kiosk.config import load_config
    from kiosk.outbox import Outbox  # here: `kiosk run` parses its arguments with this module

    config = load_config(args.config)
    if not config.storage.outbox_db.exists():
        raise ConfigError(f"no outbox at {config.storage.outbox_db} (storage.state_dir)")
    # recover_sending=False: a look must not touch records another process is sending.
    return Outbox.open(config.storage, recover_sending=False)


def cmd_outbox_status(args: argparse.Namespace) -> int:
    with _open(args) as outbox:
        counts = outbox.counts()
    if args.json:
        print(json.dumps(counts))
    else:
        for key, value in counts.items():
            print(f"{key:<22} {value if value is not None else '-'}")
    return 0


def cmd_outbox_list(args: argparse.Namespace) -> int:
    """Nothing personal is shown: bodies stay sealed; messages are the platform's, with field names only."""
    with _open(args) as outbox:
        records = outbox.records(state=args.state, limit=args.limit)
    if args.json:
        print(json.dumps([dataclasses.asdict(r) for r in records], ensure_ascii=False))
        return 0
    now = time.time()
    print(f"{'record':<12} {'kind':<11} {'state':<9} {'tries':>5} {'age':>8}  last answer")
    for r in records:
        answer = "" if r.last_code is None else f"{r.last_code} {r.last_message or ''}".strip()
        age = _age(now - r.created_at)
        print(f"{r.id[:12]:<12} {r.kind:<11} {r.state:<9} {r.attempts:>5} {age:>8}  {answer}")
    return 0


def cmd_outbox_ack(args: argparse.Namespace) -> int:
    with _open(args) as outbox:
        ids = _full_ids(outbox, args.records) if args.records else None
        marked = outbox.acknowledge_failed(ids)
    print(f"{marked} failed record(s) marked as followed up")
    return 0


def _full_ids(outbox: Outbox, given: list[str]) -> list[str]:
    """Accept the 12-character ids `outbox list` prints."""
    failed = [r.id for r in outbox.records(state="failed", limit=100_000)]
    out = []
    for prefix in given:
        matches = [i for i in failed if i.startswith(prefix)]
        if len(matches) != 1:
            how_many = "more than one" if matches else "no"
            raise ConfigError(f"{prefix}: {how_many} failed record has this id")
        out += matches
    return out


def cmd_submit(args: argparse.Namespace) -> int:
    from kiosk.config import load_config
    from kiosk.outbox import Outbox
    from kiosk.submission import SubmissionError, enqueue_submission, load_submission

    config = load_config(args.config)
    try:
        application, attachments = load_submission(args.file)
    except SubmissionError as err:
        print(f"kiosk: {err}", file=sys.stderr)
        return 2
    with Outbox.open(config.storage, recover_sending=False) as outbox:
        queued = enqueue_submission(outbox, config.terminal.id, application, attachments)
    if args.json:
        print(json.dumps(dataclasses.asdict(queued)))
    else:
        print(queued.terminal_ref)
    return 0


def _age(seconds: float) -> str:
    seconds = int(max(0, seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"
