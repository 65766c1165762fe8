"""Voice prompts: fixed texts rendered offline with espeak-ng, cached, never personal data."""

from __future__ import annotations

from terminal_toml import write_terminal_toml

from kiosk.cli import main
from kiosk.demo import demo_config
from kiosk.face import PROMPTS
from kiosk.liveness import CHALLENGE_PROMPTS
from kiosk.voice import audio_path, known_prompts, render


def test_every_prompt_a_citizen_may_hear_is_known():
    texts = known_prompts()
    assert set(CHALLENGE_PROMPTS.values()) <= set(texts) and set(PROMPTS.values()) <= set(texts)
    assert not any(ch.isdigit() for text in texts for ch in text)  # no numbers: nothing personal


def test_render_writes_a_wav_once(tmp_path):
    path = render("请向左转头", tmp_path)
    data = path.read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE" and len(data) > 10_000
    assert path == audio_path("请向左转头", tmp_path)
    mtime = path.stat().st_mtime_ns
    assert render("请向左转头", tmp_path).stat().st_mtime_ns == mtime  # cached, not rendered again
    assert not list(tmp_path.glob("*.part"))


def test_voice_build_renders_them_all_into_the_state_dir(tmp_path, capsys):
    config = demo_config(tmp_path / "state", "http://127.0.0.1:1")
    path = write_terminal_toml(
        tmp_path,
        base_url="http://127.0.0.1:1",
        secret_file=config.platform.secret_file,
        detector_model=config.face.detector_model,
    )
    assert main(["voice", "build", "--config", str(path)]) == 0
    wavs = list((tmp_path / "state" / "voice").glob("*.wav"))
    assert f"{len(wavs)} voice prompts ready" in capsys.readouterr().out
    assert len(wavs) == 2 * len(known_prompts())  # Mandarin, and English for the English UI
