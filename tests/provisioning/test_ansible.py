"""The fleet role and playbook (provisioning/ansible): `ansible-playbook --syntax-check` and ansible-lint
(production profile), both from the dev dependencies."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.paths import REPO

ANSIBLE_DIR = REPO / "provisioning" / "ansible"
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} missing: `uv sync` installs it (dev dependency)")
    return found


def _run(argv: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-local"),
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_NOCOLOR": "1",
        "NO_COLOR": "1",
    }
    return subprocess.run(
        argv, cwd=ANSIBLE_DIR, capture_output=True, text=True, timeout=300, env=env, check=False
    )


def test_playbook_syntax(tmp_path):
    result = _run(
        [_tool("ansible-playbook"), "--syntax-check", "-i", "inventory.example.yml", "playbook.yml"], tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_role_and_playbook_pass_ansible_lint(tmp_path):
    result = _run(
        [_tool("ansible-lint"), "--offline", "--profile", "production", "playbook.yml", "roles/kiosk"],
        tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 failure(s), 0 warning(s)" in result.stdout + result.stderr


def test_lint_would_catch_a_bad_task(tmp_path):
    """The lint check can fail: a shell task without a name and without changed_when is reported."""
    copy = tmp_path / "ansible"
    shutil.copytree(ANSIBLE_DIR, copy)
    tasks = copy / "roles/kiosk/tasks/main.yml"
    tasks.write_text(tasks.read_text() + "\n- ansible.builtin.shell: echo hi\n")
    result = subprocess.run(
        [_tool("ansible-lint"), "--offline", "--profile", "production", "playbook.yml", "roles/kiosk"],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "ANSIBLE_HOME": str(tmp_path / "ansible-home"), "NO_COLOR": "1"},
    )
    assert result.returncode != 0
    assert "name[missing]" in result.stdout + result.stderr
