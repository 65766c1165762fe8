"""`kiosk provision install --root DIR`: the staged tree is complete, running it twice changes nothing,
and the sysusers/tmpfiles it ships really create user kiosk and the directories (as at first boot)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from kiosk.cli import main
from provisioning.install import InstallError, UdevDevice, install, rotation_for, udev_rules

KIOSK_BIN = shutil.which("kiosk") or "/usr/local/bin/kiosk"


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path with its type, mode and content (or link target): what 'identical tree' means."""
    tree = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                tree[str(path.relative_to(root))] = ("link", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                tree[str(path.relative_to(root))] = ("dir", stat.S_IMODE(st.st_mode))
            else:
                tree[str(path.relative_to(root))] = ("file", stat.S_IMODE(st.st_mode), path.read_bytes())
    return tree


def stage(root: Path, *extra: str) -> int:
    argv = ["provision", "install", "--root", str(root), "--kiosk-bin", KIOSK_BIN]
    return main([*argv, "--udev", "idcard=1a86:7523", "--udev", "face_camera=0c45:6366", *extra])


def test_staged_tree_is_complete(tmp_path, capsys):
    assert stage(tmp_path, "--rotation", "90") == 0
    tree = snapshot(tmp_path)
    for path in (
        "usr/lib/systemd/system/kiosk.service",
        "usr/lib/systemd/system/kiosk-agent.service",
        "usr/lib/sysusers.d/kiosk.conf",
        "usr/lib/tmpfiles.d/kiosk.conf",
        "etc/udev/rules.d/70-kiosk.rules",
        "etc/kiosk/session.env",
    ):
        assert tree[path][0] == "file", path
    assert tree["usr/lib/kiosk/kiosk-session"][1] == 0o755
    assert tree["etc/systemd/system/multi-user.target.wants/kiosk-agent.service"] == (
        "link",
        "/usr/lib/systemd/system/kiosk-agent.service",
    )
    assert tree["etc/systemd/system/graphical.target.wants/kiosk.service"][0] == "link"
    assert tree["etc/systemd/system/getty@tty1.service"] == ("link", "/dev/null")
    assert tree["etc/kiosk/secrets"] == ("dir", 0o700)
    wrapper = tree["usr/local/bin/kiosk"]
    assert wrapper[1] == 0o755 and f"exec {KIOSK_BIN} " in wrapper[2].decode()
    rules = tree["etc/udev/rules.d/70-kiosk.rules"][2].decode()
    assert 'ATTRS{idVendor}=="1a86", ATTRS{idProduct}=="7523", SYMLINK+="kiosk-idcard"' in rules
    assert 'SUBSYSTEM=="video4linux"' in rules and 'ATTR{index}=="0", SYMLINK+="kiosk-face-camera"' in rules
    assert "KIOSK_ROTATION=90" in tree["etc/kiosk/session.env"][2].decode()
    assert "staged into" in capsys.readouterr().out


def test_install_twice_gives_the_identical_tree(tmp_path, capsys):
    assert stage(tmp_path) == 0
    first = snapshot(tmp_path)
    capsys.readouterr()
    assert stage(tmp_path) == 0
    assert snapshot(tmp_path) == first
    assert "0 changed" in capsys.readouterr().out


def test_install_repairs_a_changed_file_and_a_wrong_mode(tmp_path):
    assert stage(tmp_path) == 0
    first = snapshot(tmp_path)
    unit = tmp_path / "usr/lib/systemd/system/kiosk-agent.service"
    unit.write_text("[Service]\nExecStart=/bin/true\n")
    (tmp_path / "etc/kiosk/secrets").chmod(0o755)
    result = install(
        tmp_path,
        kiosk_bin=KIOSK_BIN,
        udev=[UdevDevice("idcard", "1a86", "7523"), UdevDevice("face_camera", "0c45", "6366")],
        rotation=0,
    )
    assert set(result.changed) == {"usr/lib/systemd/system/kiosk-agent.service", "etc/kiosk/secrets"}
    assert snapshot(tmp_path) == first


def test_rotation_follows_the_config_and_the_panel(tmp_path):
    config = tmp_path / "kiosk.toml"
    config.write_text('[ui]\norientation = "portrait"\n')
    assert rotation_for(config, "landscape", None) == 90
    assert rotation_for(config, "portrait", None) == 0
    assert rotation_for(config, "portrait", 180) == 180  # the flag wins
    assert rotation_for(tmp_path / "missing.toml", "landscape", None) == 0
    with pytest.raises(InstallError):
        rotation_for(config, "landscape", 45)
    result = install(tmp_path / "root", kiosk_bin=KIOSK_BIN, config=config, rotate_flag=True)
    env = (tmp_path / "root/etc/kiosk/session.env").read_text()
    assert "KIOSK_ROTATION=90" in env and "KIOSK_CAGE_ARGS=-r\n" in env
    assert result.changed
    install(tmp_path / "root2", kiosk_bin=KIOSK_BIN, config=config, rotate_flag=False)
    env = (tmp_path / "root2/etc/kiosk/session.env").read_text()
    assert "KIOSK_ROTATION=90" in env and "KIOSK_CAGE_ARGS=\n" in env  # wlr-randr in the session instead


def test_udev_rules_need_a_serial_to_tell_twin_adapters_apart():
    twins = [UdevDevice("idcard", "1a86", "7523"), UdevDevice("printer", "1a86", "7523")]
    with pytest.raises(InstallError, match="SERIAL"):
        udev_rules(twins)
    rules = udev_rules([UdevDevice.parse("idcard=1a86:7523:A1"), UdevDevice.parse("printer=1A86:7523:B2")])
    assert 'ATTRS{serial}=="A1", SYMLINK+="kiosk-idcard"' in rules
    assert 'ATTRS{serial}=="B2", SYMLINK+="kiosk-printer"' in rules
    for bad in ("idcard", "idcard=1a86", "modem=1a86:7523", "idcard=zzzz:7523"):
        with pytest.raises(InstallError):
            UdevDevice.parse(bad)


def test_bad_udev_flag_is_refused_by_the_cli(tmp_path, capsys):
    assert main(["provision", "install", "--root", str(tmp_path), "--udev", "modem=1a86:7523"]) == 2
    assert "role must be one of" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("systemd-sysusers"), reason="needs root and sysusers"
)
def test_first_boot_creates_user_and_directories(tmp_path):
    """What systemd-sysusers and systemd-tmpfiles do with the shipped files at an image's first boot."""
    assert stage(tmp_path) == 0
    subprocess.run(["systemd-sysusers", f"--root={tmp_path}"], check=True, capture_output=True)
    passwd = (tmp_path / "etc/passwd").read_text()
    [entry] = [line.split(":") for line in passwd.splitlines() if line.startswith("kiosk:")]
    uid, gid, home = int(entry[2]), int(entry[3]), entry[5]
    assert home == "/var/lib/kiosk" and entry[6] == "/usr/sbin/nologin"
    groups = (tmp_path / "etc/group").read_text()
    for group in ("dialout", "video", "input"):
        assert any(
            line.startswith(group + ":") and "kiosk" in line.split(":")[3] for line in groups.splitlines()
        )
    subprocess.run(
        [
            "systemd-tmpfiles",
            "--create",
            f"--root={tmp_path}",
            str(tmp_path / "usr/lib/tmpfiles.d/kiosk.conf"),
        ],
        check=True,
        capture_output=True,
    )
    for path, owner, mode in (
        ("etc/kiosk", (0, gid), 0o750),
        ("etc/kiosk/secrets", (uid, gid), 0o700),
        ("var/lib/kiosk", (uid, gid), 0o750),
        ("var/log/kiosk", (uid, gid), 0o750),
    ):
        st = (tmp_path / path).stat()
        assert ((st.st_uid, st.st_gid), stat.S_IMODE(st.st_mode)) == (owner, mode), path


def _session(tmp_path: Path, **env: str) -> tuple[str, str]:
    """Run the shipped kiosk-session with fake wlr-randr and kiosk on PATH: (wlr-randr calls, kiosk argv)."""
    from provisioning.install import SYSTEMD_SRC

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "calls"
    (bin_dir / "wlr-randr").write_text(
        "#!/bin/sh\n"
        '[ $# -eq 0 ] && { echo "HDMI-A-1 \\"Panel\\""; exit 0; }\n'  # the outputs list, output name first
        f'echo "wlr-randr $*" >> {log}\n'
    )
    (bin_dir / "kiosk").write_text(f'#!/bin/sh\necho "kiosk $*" >> {log}\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    script = (
        (SYSTEMD_SRC / "kiosk-session").read_text().replace("/usr/local/bin/kiosk", str(bin_dir / "kiosk"))
    )
    session = tmp_path / "kiosk-session"
    session.write_text(script)
    path = f"{bin_dir}:{os.environ['PATH']}"
    subprocess.run(["sh", str(session)], env={"PATH": path, **env}, check=True, timeout=30)
    calls = log.read_text().splitlines()
    return " | ".join(c for c in calls if c.startswith("wlr-randr")), calls[-1]


def test_session_rotates_with_wlr_randr_only_when_cage_cannot(tmp_path):
    randr, kiosk = _session(tmp_path, KIOSK_ROTATION="90", KIOSK_CAGE_ARGS="")
    assert randr == "wlr-randr --output HDMI-A-1 --transform 90"
    assert kiosk == "kiosk run --config /etc/kiosk/kiosk.toml"  # the UI replaces the shell
    (tmp_path / "calls").unlink()
    randr, kiosk = _session(tmp_path, KIOSK_ROTATION="90", KIOSK_CAGE_ARGS="-r", KIOSK_CONFIG="/x.toml")
    assert randr == ""  # cage -r already rotated
    assert kiosk == "kiosk run --config /x.toml"
