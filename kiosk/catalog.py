"""The item catalog (platform-api.md §5.2): typed items, loaded from the seed file or the platform."""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from kiosk.i18n import N_, _

log = logging.getLogger(__name__)
SEED_CATALOG = Path(__file__).resolve().parent.parent / "assets" / "catalog" / "seed_catalog.json"
SYNCED_CATALOG = "catalog.json"  # in the state directory, written whole by the agent (kiosk.agent)

Mode = Literal["online", "proxy", "joint", "query"]
# Chinese msgids (kiosk.i18n): translate with _() where they are shown.
MODE_NAMES: dict[str, str] = {
    "online": N_("全程网办"),
    "proxy": N_("异地代收代办"),
    "joint": N_("多地联办"),
    "query": N_("查询打印"),
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
    consult_phone: str | None = None  # 咨询电话 (domain.md §3); not yet in platform-api.md §5.2


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


def synced_catalog_file(state_dir: Path) -> Path:
    return state_dir / SYNCED_CATALOG


class CatalogSource:
    """`source()` is the current catalog (see current_catalog), read again only when the agent has
    written a new file since."""

    def __init__(self, state_dir: Path) -> None:
        self._state_dir = state_dir
        self._read: tuple[int | None, Catalog] | None = None

    def __call__(self) -> Catalog:
        try:
            stamp: int | None = synced_catalog_file(self._state_dir).stat().st_mtime_ns
        except OSError:  # none synced yet
            stamp = None
        if self._read is None or self._read[0] != stamp:
            self._read = (stamp, current_catalog(self._state_dir))
        return self._read[1]


def current_catalog(state_dir: Path) -> Catalog:
    """The catalog the platform sent last (synced by the agent), else the seed shipped with the
    software; a synced file that cannot be read or does not validate is logged and skipped."""
    path = synced_catalog_file(state_dir)
    if path.exists():
        try:
            return load_catalog(path)
        except (OSError, ValueError, KeyError) as err:  # ValueError: bad JSON, or pydantic's validation
            log.error("synced catalog %s unusable (%s): the seed catalog is used", path, type(err).__name__)
    return load_catalog()


# -- availability: an item needs every one of its devices working -------------------------------

# The catalog names devices as the platform does (§5.2); the terminal config names them by role.
DEVICE_ROLES: dict[str, str] = {"doc_camera": "document_camera", "qr": "scanner"}
DEVICE_NAMES: dict[str, str] = {
    "idcard": N_("身份证阅读器"),
    "face_camera": N_("人脸识别摄像头"),
    "document_camera": N_("高拍仪"),
    "scanner": N_("扫码器"),
    "printer": N_("凭条打印机"),
    "a4_printer": N_("A4打印机"),
}
# States in which a device cannot serve a citizen now; BUSY and STARTING pass by themselves.
_DOWN_WORDS: dict[str, str] = {
    "offline": N_("暂时离线"),
    "no_device": N_("未连接"),
    "power_off": N_("未通电"),
    "hardware_error": N_("出现故障"),
    "user_error": N_("需要工作人员处理"),  # paper out, cover open…
}


def unavailable_reason(
    item: Item,
    device_states: Mapping[str, str],
    installed: Collection[str] | None = None,
) -> str | None:
    """Why the item cannot be done on this terminal now (a sentence for the citizen), or None.

    `device_states` maps a device role ("idcard", "document_camera", …) to its `DeviceState` value
    (a StrEnum, so enum members work too); a role it does not mention is taken as working, since the
    flow re-checks each device when it uses it. `installed`, when given, lists the configured roles:
    an item needing a device this terminal does not have is never available.
    """
    problems: list[str] = []
    for device in item.devices:
        role = DEVICE_ROLES.get(device, device)
        name = _(DEVICE_NAMES.get(role, role))
        if installed is not None and role not in installed:
            problems.append(_("本机未配备{device}").format(device=name))
            continue
        state = device_states.get(role)
        word = _DOWN_WORDS.get(str(state)) if state is not None else None
        if word is not None:
            problems.append(_("{device}{problem}").format(device=name, problem=_(word)))
    if not problems:
        return None
    listed = _("、").join(problems)
    return _("{problems}，暂不能自助办理，请到人工窗口办理或稍后再试。").format(problems=listed)
