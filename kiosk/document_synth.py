"""Deterministic synthetic document-camera scenes for the tests and `kiosk bench document`.

A page with dense text is rendered at 200 dpi, projected through a pinhole camera (so the perspective is
physically plausible and the aspect estimate has a real focal length to recover) onto a desk texture in a
12 MP frame, then shadow, sensor noise and the camera's JPEG are applied. Everything is seeded.
"""

from __future__ import annotations

import random
import subprocess
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

A4_MM = (210.0, 297.0)
FRAME_SIZE = (4000, 3000)  # 12 MP, width × height
# Common 常用字 so the glyphs are dense and varied like a real 证明 or 申请表.
_CJK = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面"
    "而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性"
    "好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第"
    "向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管"
    "特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处"
    "证明申请住房公积金社会保险户籍身份居民委员会街道办事处年月日签字盖章"
)


@dataclass(frozen=True)
class Scene:
    frame: np.ndarray  # BGR uint8, as the camera delivers it (after its JPEG)
    corners: np.ndarray  # (4, 2) float32 ground truth, TL TR BR BL in frame pixels
    page: np.ndarray  # the rendered page, BGR uint8 at 200 dpi (ground truth for legibility)


def cjk_font_path() -> str | None:
    try:
        out = subprocess.run(
            ["fc-match", "-f", "%{file}", "Noto Sans CJK SC:lang=zh-cn"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out or None


@lru_cache(maxsize=4)
def render_page(dpi: int = 200, seed: int = 1, skew_deg: float = 0.0) -> np.ndarray:
    """An A4 page of dense text at `dpi` (BGR uint8), optionally with the text block printed skewed."""
    width, height = round(A4_MM[0] / 25.4 * dpi), round(A4_MM[1] / 25.4 * dpi)
    rng = random.Random(seed)
    img = Image.new("RGB", (width, height), (250, 250, 246))
    draw = ImageDraw.Draw(img)
    size = round(12 / 72 * dpi)  # 小四 (12 pt) body text, as on most 申请表 and 证明
    font_path = cjk_font_path()
    cjk = font_path is not None
    font = ImageFont.truetype(font_path, size) if cjk else ImageFont.load_default(size)
    title = ImageFont.truetype(font_path, size * 2) if cjk else ImageFont.load_default(size * 2)
    margin = round(25 / 25.4 * dpi)
    alphabet = _CJK if cjk else "abcdefghijklmnopqrstuvwxyz0123456789 "
    draw.text(
        (width // 2, margin),
        "居民身份证明材料" if cjk else "CERTIFICATE",
        fill=(10, 10, 10),
        font=title,
        anchor="mt",
    )
    y = margin + size * 4
    line_h = round(size * 1.9)
    chars_per_line = (width - 2 * margin) // size
    row = 0
    while y < height - margin - line_h:
        row += 1
        # Paragraphs: indented first lines and short last lines, ~1,100 characters a page like a real 证明.
        full = chars_per_line - (2 if row % 6 == 1 else 0)
        n = rng.randrange(4, chars_per_line - 4) if row % 6 == 0 else full
        line = ("  " if row % 6 == 1 else "") + "".join(rng.choice(alphabet) for _ in range(n))
        draw.text((margin, y), line, fill=(20, 20, 25), font=font)
        y += line_h
    page = cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)
    # A red seal: coloured but not skin, so the hand check must not fire on it.
    cv2.circle(page, (width - margin * 3, height - margin * 3), round(dpi * 0.8), (40, 40, 200), 8)
    if skew_deg:
        m = cv2.getRotationMatrix2D((width / 2, height / 2), skew_deg, 1.0)
        page = cv2.warpAffine(page, m, (width, height), borderMode=cv2.BORDER_REPLICATE)
    return page


def _desk(light: bool, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w, h = FRAME_SIZE
    low = rng.normal(0, 1, (h // 16, w // 16)).astype(np.float32)
    low = cv2.GaussianBlur(low, (0, 0), 3)
    grain = np.sin(np.linspace(0, 90, w // 4, dtype=np.float32))[None, :] * 0.5  # wood grain stripes
    low = cv2.resize(low, (w, h), interpolation=cv2.INTER_LINEAR)
    grain = cv2.resize(np.repeat(grain, h // 4, 0), (w, h), interpolation=cv2.INTER_LINEAR)
    tex = (low * 0.6 + grain)[..., None]
    base = np.array([150, 152, 155] if light else [45, 70, 100], np.float32)  # BGR: grey laminate / dark wood
    return np.clip(base + tex * (12 if light else 18), 0, 255).astype(np.uint8)


def _camera_homography(
    page_px: tuple[int, int],
    dpi: int,
    distance_mm: float,
    angles_deg: tuple[float, float, float],
    shift_px: tuple[float, float],
    focal_px: float,
) -> np.ndarray:
    """Homography page pixels → frame pixels for a pinhole camera looking down at the tilted page."""
    ax, ay, az = np.radians(angles_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    r = rz @ ry @ rx
    w, h = FRAME_SIZE
    k = np.array([[focal_px, 0, w / 2], [0, focal_px, h / 2], [0, 0, 1]])
    mm = 25.4 / dpi
    to_mm = np.array([[mm, 0, -page_px[0] * mm / 2], [0, mm, -page_px[1] * mm / 2], [0, 0, 1]])
    # shift_px moves the page sideways on the desk (by that many pixels at the page centre).
    t = [shift_px[0] * distance_mm / focal_px, shift_px[1] * distance_mm / focal_px, distance_mm]
    rt = np.column_stack([r[:, 0], r[:, 1], t])
    hmg = k @ rt @ to_mm
    return hmg / hmg[2, 2]


def make_scene(variant: str = "good", seed: int = 7) -> Scene:
    """Variants: good, light_desk, blurred, glare, cut_off, too_small, hand, rotated, skewed_text."""
    rng = np.random.default_rng(seed)
    dpi = 200
    page = render_page(dpi, seed=1, skew_deg=3.0 if variant == "skewed_text" else 0.0)
    ph, pw = page.shape[:2]
    focal = 3300.0
    distance = 297 * focal / 2550  # page ≈ 2550 px tall: a little denser than 200 dpi, as a 高拍仪 gives
    angles = (7.0, -5.0, 2.0)
    shift = (60.0, 40.0)
    if variant == "rotated":
        angles = (6.0, 4.0, 24.0)
        distance *= 1.25
    elif variant == "too_small":
        distance *= 3.2
    elif variant == "cut_off":
        shift = (-850.0, -380.0)  # top-left corner leaves the frame
    hmg = _camera_homography((pw, ph), dpi, distance, angles, shift, focal)
    frame = _desk(variant == "light_desk", seed)
    cv2.warpPerspective(
        page, hmg, FRAME_SIZE, dst=frame, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_TRANSPARENT
    )
    corners = cv2.perspectiveTransform(np.array([[[0, 0], [pw, 0], [pw, ph], [0, ph]]], np.float32), hmg)[0]
    w, h = FRAME_SIZE
    # Soft shadow of the camera arm across one side, and the lamp fall-off.
    yy, xx = np.mgrid[0:h:8, 0:w:8].astype(np.float32)
    light = 0.95 - 0.25 * np.clip((xx - w * 0.55) / (w * 0.45), 0, 1) ** 1.5
    light *= 1 - 0.08 * ((xx - w / 2) ** 2 + (yy - h / 2) ** 2) / (w * w / 4)
    light = cv2.resize(light, (w, h), interpolation=cv2.INTER_LINEAR)
    frame = cv2.multiply(frame, cv2.merge([light, light, light]), dtype=cv2.CV_8U)
    if variant == "glare":
        cx, cy = (corners[0] + corners[2]) / 2 + np.array([150.0, -300.0])
        blob = np.zeros((h // 8, w // 8), np.float32)
        cv2.circle(blob, (int(cx / 8), int(cy / 8)), 34, 1.0, -1)
        blob = cv2.resize(cv2.GaussianBlur(blob, (0, 0), 10), (w, h))[..., None] * 1.6
        frame = np.clip(frame + blob * 255, 0, 255).astype(np.uint8)
    if variant == "hand":
        _draw_hand(frame, corners)
    if variant == "blurred":
        frame = cv2.GaussianBlur(frame, (0, 0), 5.0)
    noise_tile = rng.normal(0, 3.0, (512, 512, 3)).astype(np.float32)
    noise = np.tile(noise_tile, (h // 512 + 1, w // 512 + 1, 1))[:h, :w]
    frame = cv2.add(frame, noise, dtype=cv2.CV_8U)
    ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    frame = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
    return Scene(frame, corners.astype(np.float32), page)


def _draw_hand(frame: np.ndarray, corners: np.ndarray) -> None:
    """A skin-coloured hand (palm + fingers) reaching over the page's right edge from outside."""
    tr, br = corners[1], corners[2]
    mid = tr + (br - tr) * 0.55
    inward = np.array([-1.0, 0.0])
    palm_c = mid - inward * 380  # palm outside the page, fingers over it
    skin = (120, 160, 215)  # BGR
    cv2.ellipse(frame, (int(palm_c[0]), int(palm_c[1])), (420, 330), 0, 0, 360, skin, -1)
    for i, dy in enumerate((-240, -90, 60, 200)):
        start = palm_c + np.array([-250, dy])
        end = start + inward * (520 + 60 * (i % 2)) + np.array([0, dy * 0.1])
        cv2.line(frame, (int(start[0]), int(start[1])), (int(end[0]), int(end[1])), skin, 120)
        cv2.circle(frame, (int(end[0]), int(end[1])), 60, skin, -1)
    # Shading so the skin is not one flat colour.
    roi = frame[int(palm_c[1]) - 400 : int(palm_c[1]) + 400, int(palm_c[0]) - 900 : int(palm_c[0]) + 500]
    roi[:] = cv2.GaussianBlur(roi, (0, 0), 6)


def encode_frame(frame: np.ndarray, quality: int = 92) -> bytes:
    ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return jpeg.tobytes()
