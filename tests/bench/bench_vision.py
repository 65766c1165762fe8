"""`kiosk bench vision`: the camera figures of the issue in one run — P4 the face pipeline (detection,
quality + liveness per frame, verification accuracy), P5 QR decoding per 1280×720 frame, P6 a 12 MP
document frame to an A4 page — each printed by its own benchmark with its same-run baselines."""

from __future__ import annotations

import cv2

from kiosk.bench import load

PARTS = (("P4 face", "face"), ("P5 QR", "qr"), ("P6 document", "document"))


def main() -> None:
    threads = cv2.getNumThreads()
    for title, name in PARTS:
        cv2.setNumThreads(threads)  # each part starts from the machine's default, whatever the last one set
        print(f"-- {title} (kiosk bench {name}) --", flush=True)
        load(name).main()
