"""Speaking in 长者模式: the screen's instruction when it appears and each new face-check prompt, from
WAVs rendered by `kiosk.voice` (cached under the state directory). A mute switch in the top bar."""

from __future__ import annotations

import logging
import subprocess
import threading
from pathlib import Path
from typing import Any

from kivy.clock import Clock
from kivy.core.audio import SoundLoader

from kiosk import voice

log = logging.getLogger(__name__)


class Speaker:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.enabled = False  # on in 长者模式
        self.muted = False
        self.last_said: str | None = None
        self.said: list[str] = []  # fixed prompts only; the scenario runner reports them
        self._sound: Any = None

    def say(self, text: str | None) -> None:
        """Speak a fixed prompt (never personal data); repeated text is not said twice in a row."""
        if not text or not self.enabled or self.muted:
            return
        text, voice_name = voice.spoken(text)  # `text` is the Chinese msgid; said in the UI's language
        if text == self.last_said:
            return
        self.last_said = text
        self.said = [*self.said[-99:], text]
        path = voice.audio_path(text, self.directory, voice_name)
        if path.exists():
            self._play(path)
            return
        threading.Thread(
            target=self._render_then_play, args=(text, voice_name), daemon=True, name="voice"
        ).start()

    def stop(self) -> None:
        self.last_said = None
        if self._sound is not None:
            self._sound.stop()
            self._sound = None

    def _render_then_play(self, text: str, voice_name: str) -> None:
        try:
            path = voice.render(text, self.directory, voice_name)
        except (OSError, subprocess.SubprocessError) as err:  # no espeak-ng: the screen still shows it
            log.warning("voice prompt not rendered: %s", type(err).__name__)
            return
        Clock.schedule_once(lambda _dt: self._play(path) if self.last_said == text else None)

    def _play(self, path: Path) -> None:
        if self._sound is not None:
            self._sound.stop()  # the newest prompt wins
        self._sound = SoundLoader.load(str(path))
        if self._sound is None:
            log.warning("no audio output for voice prompts")
            return
        self._sound.play()
