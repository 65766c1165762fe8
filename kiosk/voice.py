"""Voice prompts for 长者模式: each fixed prompt is rendered to a WAV once, offline, with espeak-ng
(`kiosk voice build` at setup), and the UI plays the file. A prompt missing from the cache is rendered
when first needed, on a worker thread.

Only fixed texts are ever spoken (screen instructions, face-check prompts, flow messages): never a
name, an ID number or anything a citizen typed, since a hall is a public place.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
from pathlib import Path

from kiosk import i18n
from kiosk.i18n import N_

log = logging.getLogger(__name__)

VOICE = "cmn"  # espeak-ng's Mandarin
VOICES = {"zh": VOICE, "en": "en"}  # by UI language (kiosk.i18n); English prompts are the .po's
RATE_WPM = 140  # slower than espeak's 175: for people who are not used to machines talking
TIMEOUT_S = 20.0

# What each screen asks for, said when it appears (the screen's own text says the same).
# Chinese msgids: the speaker says them in the UI's language (screens.voice).
SCREEN_PROMPTS: dict[str, str] = {
    "home": N_("欢迎使用政务服务自助终端，请选择您要办理的业务。"),
    "catalog": N_("请选择您要办理的事项。"),
    "idcard": N_("请将身份证放在下方读卡区。"),
    "face": N_("请正对屏幕，摘下帽子和眼镜，按提示转动头部。"),
    "form": N_("请填写申请信息，填好后点下一步。"),
    "licenses": N_("可以调取您的电子证照，不用再拍纸质材料。同意请点同意调取。"),
    "materials": N_("请把材料平放在拍摄区域内。"),
    "commitment": N_("请阅读告知承诺书，然后在框内签名。"),
    "checklist": N_("请核对材料是否齐全，缺少的材料可以点补拍。"),
    "delivery": N_("请选择领取方式。"),
    "certificate": N_("正在打印证明，请稍候，打好后请取走。"),
    "review": N_("请核对信息，确认无误后点确认提交。"),
    "receipt": N_("已提交，请取走回执。"),
    "rating": N_("请为本次服务评价。"),
    "done": N_("办理完成，请带好您的身份证和回执。"),
    "scan": N_("请把回执上的二维码对准摄像头。"),
    "closed": N_("本机暂停服务，请到人工窗口办理。"),
}


def known_prompts() -> list[str]:
    """Every fixed text the UI may speak, for `kiosk voice build`."""
    # Here, not at the top: the UI imports this module for its home screen, drawn before the face
    # check's modules (OpenCV, numpy) are loaded.
    from kiosk.face import PROMPTS as FACE_PROMPTS
    from kiosk.face_check import FAIL_PROMPTS
    from kiosk.liveness import CHALLENGE_PROMPTS, RETURN_PROMPT

    texts = [
        *SCREEN_PROMPTS.values(),
        *FACE_PROMPTS.values(),
        *CHALLENGE_PROMPTS.values(),
        RETURN_PROMPT,
        *FAIL_PROMPTS.values(),
    ]
    return list(dict.fromkeys(texts))  # once each, in order


def audio_path(text: str, directory: Path, voice: str = VOICE) -> Path:
    # Mandarin files keep their plain-text names; another voice is part of the key, so a sentence
    # left untranslated (Chinese in English mode) never overwrites the Mandarin file.
    key = text if voice == VOICE else f"{voice}\0{text}"
    return directory / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}.wav"


def spoken(text: str) -> tuple[str, str]:
    """What to say for the Chinese prompt `text` in the current language, and with which voice."""
    said = i18n._(text)
    return (said, VOICES[i18n.current_language()]) if said != text else (text, VOICE)


def espeak() -> str:
    found = shutil.which("espeak-ng")
    if found is None:
        raise FileNotFoundError("espeak-ng is not installed (apt-get install espeak-ng)")
    return found


def render(text: str, directory: Path, voice: str = VOICE) -> Path:
    """The WAV for `text` in `voice`, rendered now if it is not in the cache yet."""
    path = audio_path(text, directory, voice)
    if path.exists():
        return path
    directory.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.part")
    command = [espeak(), "-v", voice, "-s", str(RATE_WPM), "-w", str(partial), text]
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=TIMEOUT_S)
        partial.replace(path)  # atomic: the UI never plays half a file
    finally:
        partial.unlink(missing_ok=True)
    return path


def build(directory: Path) -> int:
    """Render every known prompt in every language; returns how many files the cache holds for them."""
    files = set()
    before = i18n.current_language()
    try:
        for lang in i18n.LANGUAGES:
            i18n.set_language(lang)
            for text in known_prompts():
                said, voice = spoken(text)
                files.add(render(said, directory, voice))
    finally:
        i18n.set_language(before)
    log.info("voice prompts ready in %s", directory)
    return len(files)
