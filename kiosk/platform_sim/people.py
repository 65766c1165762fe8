"""Seeded demo people of the simulator: the two fictitious identities of assets/demo/identities.json, their
provincial-app QR codes and e-licences, and the generated documents (licence files, certificates).

The documents are rendered with Pillow in ASCII only (no CJK font is bundled); they carry the document
kind, the licence number and a masked ID number, never the full number or the name.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "CERTIFICATE_KINDS",
    "DEMO_IDENTITIES",
    "DemoPerson",
    "License",
    "certificate_pdf",
    "license_file",
    "load_people",
]

DEMO_IDENTITIES = Path(__file__).resolve().parents[2] / "assets" / "demo" / "identities.json"

# Certificates the platform prints for query items (§5.10); title used on the generated document.
CERTIFICATE_KINDS = {
    "social_insurance_record": "Social insurance contribution record",
    "pension_payment_record": "Pension payment record",
    "housing_fund_record": "Housing provident fund deposit record",
}


@dataclass(frozen=True)
class License:
    license_id: str
    type: str
    name: str
    issuer: str
    level: str
    number: str
    valid_until: str | None
    file_type: str  # "application/pdf" or "image/jpeg"

    def public(self) -> dict[str, Any]:
        return {
            "license_id": self.license_id,
            "type": self.type,
            "name": self.name,
            "issuer": self.issuer,
            "level": self.level,
            "number": self.number,
            "valid_until": self.valid_until,
        }


@dataclass(frozen=True)
class DemoPerson:
    name: str
    id_number: str
    phone: str | None
    qr_token: str  # the seeded provincial-app code is "YSB-QR:<qr_token>"; it does not expire
    licenses: tuple[License, ...]


# Per demo person (by position in identities.json): phone, QR token, licences. All fictitious.
_SEED: list[dict[str, Any]] = [
    {
        "phone": "13800000001",
        "qr_token": "DEMO-WANGJG-0001",
        "licenses": [
            License(
                "LIC-DEMO-0001-RET",
                "retirement_certificate",
                "退休证",
                "信阳市人力资源和社会保障局",
                "A",
                "RT4115022018000123",
                None,
                "application/pdf",
            ),
            License(
                "LIC-DEMO-0001-PEN",
                "pension_payment_record",
                "养老金领取证明",
                "信阳市社会保险中心",
                "B",
                "PN4115022026000456",
                "2026-12-31",
                "image/jpeg",
            ),
        ],
    },
    {
        "phone": "13800000002",
        "qr_token": "DEMO-LIXL-0002",
        "licenses": [
            License(
                "LIC-DEMO-0002-DIP",
                "diploma",
                "毕业证书",
                "四川大学",
                "A",
                "106101201205000789",
                None,
                "application/pdf",
            ),
            License(
                "LIC-DEMO-0002-RES",
                "residence_permit",
                "居住证",
                "信阳市公安局",
                "A",
                "JZ4115022025001234",
                "2027-03-01",
                "image/jpeg",
            ),
        ],
    },
]


def load_people(path: Path = DEMO_IDENTITIES) -> dict[str, DemoPerson]:
    """id_number → DemoPerson for the seeded identities."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    people: dict[str, DemoPerson] = {}
    for ident, seed in zip(doc["identities"], _SEED, strict=False):
        people[ident["id_number"]] = DemoPerson(
            ident["name"], ident["id_number"], seed["phone"], seed["qr_token"], tuple(seed["licenses"])
        )
    return people


def _masked(id_number: str) -> str:
    return id_number[:3] + "*" * max(len(id_number) - 7, 0) + id_number[-4:]


def _page(lines: list[str]) -> Any:
    from PIL import Image, ImageDraw, ImageFont  # local: only documents need Pillow

    img = Image.new("RGB", (595, 842), "white")  # A4 at 72 dpi
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=18)
    draw.rectangle((30, 30, 565, 812), outline=(160, 20, 20), width=3)
    y = 70
    for line in lines:
        draw.text((60, y), line, fill="black", font=font)
        y += 34
    return img


def _save(img: Any, fmt: str) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, resolution=72.0) if fmt == "PDF" else img.save(buf, fmt, quality=85)
    return buf.getvalue()


def license_file(lic: License, id_number: str) -> bytes:
    lines = [
        "ELECTRONIC LICENCE (simulator sample)",
        f"Type: {lic.type}",
        f"Number: {lic.number}",
        f"Level: {lic.level}",
        f"Holder ID: {_masked(id_number)}",
        f"Valid until: {lic.valid_until or 'long-term'}",
    ]
    return _save(_page(lines), "PDF" if lic.file_type == "application/pdf" else "JPEG")


def certificate_pdf(kind: str, id_number: str, issued_at: str) -> bytes:
    lines = [
        CERTIFICATE_KINDS[kind],
        "(simulator sample, not an official document)",
        f"Kind: {kind}",
        f"Holder ID: {_masked(id_number)}",
        f"Issued at: {issued_at}",
    ]
    return _save(_page(lines), "PDF")
