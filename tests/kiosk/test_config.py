from pathlib import Path

import pytest

from kiosk.config import ConfigError, load_config

GOOD = """
[terminal]
id = "T4115020001"
region_code = "411502"
hall_name = "信阳市浉河区政务服务中心"

[platform]
base_url = "https://platform.example.gov.cn/"
terminal_id = "T4115020001"
secret_file = "secrets/app_secret"

[storage]
state_dir = "/var/lib/kiosk"

[devices.idcard]
url = "serial:///dev/ttyUSB0?baud=115200"

[devices.printer]
url = "tcp://192.0.2.10:9100"
paper_mm = 58

[face]
detector_model = "models/yunet.onnx"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kiosk.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_config_resolves_relative_paths_and_defaults(tmp_path):
    config = load_config(write(tmp_path, GOOD))
    assert config.platform.base_url == "https://platform.example.gov.cn"
    assert config.platform.secret_file == tmp_path.resolve() / "secrets" / "app_secret"
    assert config.face.detector_model == tmp_path.resolve() / "models" / "yunet.onnx"
    assert config.devices["printer"].options == {"paper_mm": 58}
    assert config.session.idle_timeout_s == 90
    assert config.ui.size == (1080, 1920)
    assert config.storage.outbox_key_file == Path("/var/lib/kiosk/secrets/outbox.key")


@pytest.mark.parametrize(
    ("change", "named_key"),
    [
        (('region_code = "411502"', 'region_code = "4115"'), "terminal.region_code"),
        (
            ('hall_name = "信阳市浉河区政务服务中心"', 'hall_name = "x"\ncolour = "red"'),
            "terminal.colour: unknown key",
        ),
        (("https://platform.example.gov.cn/", "http://platform.example.gov.cn"), "platform.base_url"),
        (('url = "tcp://192.0.2.10:9100"', 'url = "printer"'), "devices.printer.url"),
        (("[face]", "[faces]"), "face: Field required"),
    ],
)
def test_invalid_config_names_the_bad_key(tmp_path, change, named_key):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, GOOD.replace(*change)))
    assert named_key in str(err.value)
    assert str(tmp_path) in str(err.value)


def test_missing_and_malformed_files_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[terminal\nid = 1"))


def test_plain_http_is_allowed_on_loopback_only(tmp_path):
    config = load_config(
        write(tmp_path, GOOD.replace("https://platform.example.gov.cn/", "http://127.0.0.1:8780"))
    )
    assert config.platform.base_url == "http://127.0.0.1:8780"


def test_every_relative_path_is_relative_to_the_file(tmp_path):
    text = GOOD.replace("[storage]", 'client_cert = "tls/t.pem"\n[storage]')
    text += 'embedding_model = "m/e.onnx"\n'  # [face] is the last section
    config = load_config(write(tmp_path, text))
    base = tmp_path.resolve()
    assert config.platform.client_cert == base / "tls" / "t.pem"
    assert config.face.embedding_model == base / "m" / "e.onnx"
    assert config.storage.state_dir == Path("/var/lib/kiosk")  # absolute stays as it is
