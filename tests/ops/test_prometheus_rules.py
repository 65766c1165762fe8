"""ops/prometheus/alerts.yml: valid for Prometheus (`promtool check rules`), behaving as its unit tests
say (`promtool test rules`), and written only over metrics the agent exports."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from kiosk import metrics

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "ops" / "prometheus" / "alerts.yml"
RULE_TESTS = sorted((ROOT / "ops" / "prometheus" / "tests").glob("*.yml"))
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool missing (apt-get install prometheus)")
KIOSK_NAME = re.compile(r"\bkiosk_[a-z0-9_]+\b")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120, cwd=ROOT)


@needs_promtool
def test_rules_are_valid():
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@needs_promtool
def test_rule_unit_tests_pass():
    assert RULE_TESTS
    result = promtool("test", "rules", *map(str, RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def rules() -> list[dict]:
    return [
        rule
        for group in yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
        for rule in group["rules"]
    ]


def test_every_alert_is_tested_and_routed():
    alerts = {rule["alert"]: rule for rule in rules()}
    tested = {
        case["alertname"]
        for path in RULE_TESTS
        for test in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert set(alerts) == tested  # each alert fires in at least one unit test
    for name, rule in alerts.items():
        assert rule["labels"]["team"] in ("hall", "technician"), name
        assert rule["labels"]["severity"] in ("info", "warning", "critical"), name
        assert rule["annotations"]["summary"], name
    # who is sent: a device staff can clear vs one that needs a technician
    assert alerts["KioskDeviceNeedsHallStaff"]["labels"]["team"] == "hall"
    assert alerts["KioskDeviceNeedsTechnician"]["labels"]["team"] == "technician"
    assert alerts["KioskHelpRequestWaiting"]["labels"]["team"] == "hall"


def test_rules_only_use_exported_metrics():
    exported = metrics.sample_names()
    for rule in rules():
        used = set(KIOSK_NAME.findall(rule["expr"]))
        assert used <= exported, (rule["alert"], used - exported)
