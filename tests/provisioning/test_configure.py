"""`kiosk provision configure`: a valid kiosk.toml the real loader accepts, written 0640 and atomically;
bad input is refused with a message naming the flag, and nothing on disk changes."""

from __future__ import annotations

import stat

import pytest
from provision_args import TERMINAL, configure_argv

from kiosk.cli import main
from kiosk.config import load_config

DEVICES = {
    "idcard": "serial:///dev/kiosk-idcard?baud=115200",
    "face_camera": "v4l2:///dev/kiosk-face-camera",
    "printer": "tcp://192.168.1.50:9100",
}
URL = "https://platform.example.gov.cn"


def test_writes_a_config_the_kiosk_loads(tmp_path, capsys):
    argv = configure_argv(tmp_path, URL + "/", DEVICES)
    argv += ["--device-option", "printer.paper_mm=58", "--orientation", "landscape", "--size", "1920x1080"]
    assert main(argv) == 0
    path = tmp_path / "kiosk.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    config = load_config(path)
    assert (config.terminal.id, config.terminal.region_code) == (TERMINAL, "411502")
    assert config.terminal.hall_name == "信阳市浉河区政务服务中心"
    assert config.platform.base_url == URL  # normalised by the loader
    assert config.platform.terminal_id == TERMINAL
    assert config.platform.secret_file == tmp_path / "secrets" / "app_secret"
    assert config.devices["printer"].options == {"paper_mm": 58}
    assert config.devices["idcard"].url == DEVICES["idcard"]
    assert (config.ui.orientation, config.ui.size) == ("landscape", (1920, 1080))
    out = capsys.readouterr().out
    assert "河南省 信阳市 浉河区" in out
    assert not list(tmp_path.glob(".kiosk.toml.tmp*"))  # no temp file left behind


def test_rerun_with_the_same_answers_leaves_the_file_alone(tmp_path, capsys):
    assert main(configure_argv(tmp_path, URL, DEVICES)) == 0
    inode = (tmp_path / "kiosk.toml").stat().st_ino
    capsys.readouterr()
    assert main(configure_argv(tmp_path, URL, DEVICES)) == 0
    assert capsys.readouterr().out.startswith("unchanged:")  # what the Ansible role keys "changed" on
    assert (tmp_path / "kiosk.toml").stat().st_ino == inode  # not even rewritten


def test_rerun_replaces_the_file(tmp_path):
    assert main(configure_argv(tmp_path, URL, DEVICES)) == 0
    assert (
        main(configure_argv(tmp_path, URL, {**DEVICES, "printer": "serial:///dev/kiosk-printer?baud=19200"}))
        == 0
    )
    assert (
        load_config(tmp_path / "kiosk.toml").devices["printer"].url
        == "serial:///dev/kiosk-printer?baud=19200"
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"region_code": "991502"}, "province"),  # no such province
        ({"region_code": "411599"}, "not in the GB/T 2260 table"),
        ({"region_code": "41150"}, "6 digits"),
        ({"terminal_id": "4115020001"}, "terminal.id"),  # the loader's message names the key
        ({"platform_url": "http://platform.example.gov.cn"}, "https"),
        ({"hall_name": ""}, "hall_name"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(tmp_path, capsys, change, expected):
    argv = configure_argv(tmp_path, change.pop("platform_url", URL), DEVICES)
    for key, value in change.items():
        argv[argv.index("--" + key.replace("_", "-")) + 1] = value
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "nothing written" in err and expected in err
    assert not (tmp_path / "kiosk.toml").exists()


def test_refusal_keeps_the_previous_file(tmp_path):
    assert main(configure_argv(tmp_path, URL, DEVICES)) == 0
    before = (tmp_path / "kiosk.toml").read_bytes()
    bad = configure_argv(tmp_path, URL, DEVICES)
    bad[bad.index("--region-code") + 1] = "000000"
    assert main(bad) == 2
    assert (tmp_path / "kiosk.toml").read_bytes() == before


def test_a_division_newer_than_the_table_needs_the_explicit_flag(tmp_path):
    argv = configure_argv(tmp_path, URL, DEVICES)
    argv[argv.index("--region-code") + 1] = "411599"
    assert main(argv) == 2
    assert main([*argv, "--allow-unlisted-region"]) == 0
    assert load_config(tmp_path / "kiosk.toml").terminal.region_code == "411599"


def test_missing_and_unknown_devices_are_named(tmp_path, capsys):
    assert main(configure_argv(tmp_path, URL, {"idcard": DEVICES["idcard"]})) == 2
    err = capsys.readouterr().err
    assert "--device face_camera=URL" in err and "--device printer=URL" in err
    assert main(configure_argv(tmp_path, URL, {**DEVICES, "fingerprint": "serial:///dev/x"})) == 2
    assert "fingerprint" in capsys.readouterr().err
    assert main([*configure_argv(tmp_path, URL, DEVICES), "--device", "printer"]) == 2
    assert "NAME=URL" in capsys.readouterr().err


def test_toml_special_characters_survive(tmp_path):
    argv = configure_argv(tmp_path, URL, DEVICES)
    argv[argv.index("--hall-name") + 1] = '浉河区"一站式"\\大厅'
    assert main(argv) == 0
    assert load_config(tmp_path / "kiosk.toml").terminal.hall_name == '浉河区"一站式"\\大厅'
