"""Kivy reads its settings at import time, so the window is configured here before any kivy import."""

from __future__ import annotations

import os

DESIGN_PORTRAIT = (1080, 1920)


def prepare_kivy(size: tuple[int, int], *, orientation: str, fullscreen: bool, locked: bool) -> None:
    """`locked` is the terminal's kiosk mode: no cursor, Escape does not quit."""
    width, height = size
    design_w, design_h = DESIGN_PORTRAIT if orientation == "portrait" else DESIGN_PORTRAIT[::-1]
    os.environ["KIVY_NO_ARGS"] = "1"
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")  # our logging config (and redaction) applies
    os.environ["KIVY_NO_FILELOG"] = "1"
    # dp() units are designed at 1080×1920; the density scales them to the real window.
    os.environ["KIVY_METRICS_DENSITY"] = f"{min(width / design_w, height / design_h):.4f}"
    from kivy.config import Config

    Config.set("graphics", "width", str(width))
    Config.set("graphics", "height", str(height))
    Config.set("graphics", "fullscreen", "auto" if fullscreen else "0")
    Config.set("graphics", "resizable", "0")
    # No multisampled framebuffer (Kivy's default is 2 samples): it doubles the colour, depth and
    # stencil buffers of a 1080×1920 window (under Xvfb's software GL, 68 MB of the process's
    # memory) and the work of every frame. Buttons and panels draw their own smooth edges
    # (SmoothRoundedRectangle); text is textures, which multisampling never touched.
    Config.set("graphics", "multisamples", "0")
    Config.set("graphics", "show_cursor", "0" if locked else "1")
    Config.set("kivy", "exit_on_escape", "0" if locked else "1")
    Config.set("input", "mouse", "mouse,multitouch_on_demand")  # no red multitouch dots on right-click
