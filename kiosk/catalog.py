"""The item catalog (platform-api.md §5.2): typed items, loaded from the seed file or the platform."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

SEED_CATALOG = Path(__file__).resolve().parent.parent / "assets" / "catalog" / "seed_catalog.json"

Mode = Literal["online", "proxy", "joint", "query"]
MODE_NAMES: dict[str, str] = {
    "online": "全程网办",
    "proxy": "异地代收代办",
    "joint": "多地联办",
    "query": "查询打印",
}


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class Fee(_Model):
    charged: bool
    basis: str | None = None


class Material(_Model):
    code: str
    name: str
    required: bool
    copies: int = 1
    license_type: str | None = None
    accepts: list[Literal["license", "scan", "commitment"]]


class FormField(_Model):
    field: str
    label: str
    type: Literal["text", "phone", "id_number", "date", "choice", "address", "number"]
    required: bool
    options: list[str] | None = None
    max_length: int | None = None


class Item(_Model):
    code: str
    name: str
    department: str
    dept_code: str
    theme: str
    audience: list[Literal["person", "legal_person"]]
    modes: list[Mode]
    kuasheng: bool
    legal_days: int | None = None
    promised_days: int | None = None
    fee: Fee
    conditions: str
    process: list[str]
    materials: list[Material]
    form: list[FormField]
    commitment_text: str | None = None
    delivery: list[Literal["mail", "pickup", "online"]]
    devices: list[str]
    certificate_kind: str | None = None


class Catalog(_Model):
    version: str
    items: list[Item]

    def get(self, code: str) -> Item:
        for item in self.items:
            if item.code == code:
                return item
        raise KeyError(code)

    def with_mode(self, mode: Mode) -> list[Item]:
        return [item for item in self.items if mode in item.modes]


def load_catalog(path: Path = SEED_CATALOG) -> Catalog:
    data = json.loads(path.read_text(encoding="utf-8"))
    return Catalog(version=data["version"], items=data["items"])
