"""Terminal configuration: one TOML file, validated at start-up with messages that name the bad key."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

# Defined where the UI's start reads them without pydantic; imported from here by everything else.
from kiosk.ui_settings import (
    DEFAULT_CONFIG_PATH,
    DEFAULT_FULLSCREEN,
    DEFAULT_ORIENTATION,
    DEFAULT_SIZE,
    HALL_NAME_MAX,
    ConfigError,
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TerminalConfig(_Section):
    id: Annotated[str, StringConstraints(pattern=r"^T\d{10}$")]
    region_code: Annotated[str, StringConstraints(pattern=r"^\d{6}$")]
    hall_name: Annotated[str, StringConstraints(min_length=1, max_length=HALL_NAME_MAX)]


class PlatformConfig(_Section):
    base_url: Annotated[str, StringConstraints(pattern=r"^https?://")]
    terminal_id: Annotated[str, StringConstraints(pattern=r"^T\d{10}$")]
    secret_file: Path
    connect_timeout_s: float = Field(3.0, gt=0, le=60)
    read_timeout_s: float = Field(10.0, gt=0, le=300)
    ca_file: Path | None = None
    client_cert: Path | None = None  # mutual TLS: PEM certificate (may hold the key as well)
    client_key: Path | None = None  # its private key, when in a file of its own

    @property
    def client_cert_pair(self) -> tuple[str, str] | None:
        if self.client_cert is None:
            return None
        return (str(self.client_cert), str(self.client_key or self.client_cert))

    @field_validator("base_url")
    @classmethod
    def _https_unless_loopback(cls, url: str) -> str:
        # Plain HTTP is only for the simulator on this machine (platform-api.md §1).
        loopback = ("http://127.", "http://localhost", "http://[::1]")
        if url.startswith("http://") and not url.startswith(loopback):
            raise ValueError("must use https:// (plain http is allowed on loopback only)")
        return url.rstrip("/")


class StorageConfig(_Section):
    state_dir: Path
    key_file: Path | None = None  # outbox key; default: <state_dir>/secrets/outbox.key
    # Below this much free space no new case is started (a case with scans takes a few MB).
    min_free_mb: int = Field(100, ge=0)

    @property
    def outbox_key_file(self) -> Path:
        return self.key_file or self.state_dir / "secrets" / "outbox.key"

    @property
    def outbox_db(self) -> Path:
        """The citizens' cases, in a file of their own: damage to device state cannot reach them."""
        return self.state_dir / "outbox.db"

    @property
    def state_db(self) -> Path:
        return self.state_dir / "state.db"


class DeviceConfig(BaseModel):
    """A device named by URL; other keys are driver options (paper_mm, baudrate, …)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    url: Annotated[str, StringConstraints(pattern=r"^[a-z0-9+]+://|^/dev/")]

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class SessionConfig(_Section):
    idle_timeout_s: int = Field(90, ge=15, le=1800)
    warning_s: int = Field(15, ge=5, le=120)


class FaceConfig(_Section):
    detector_model: Path
    # 1:1 match: "platform" (§5.3 decides) or "local" (this terminal's matcher decides first, then the
    # platform issues the proof); local needs the embedding model and the chip photo (WLT decoder) or
    # a reference image.
    match: Literal["platform", "local"] = "platform"
    embedding_model: Path | None = None
    match_threshold: float = Field(0.45, gt=0, lt=1)
    reference_image: Path | None = None
    liveness_challenges: int = Field(2, ge=1, le=4)  # random head movements asked in turn
    liveness_timeout_s: float = Field(20.0, ge=5, le=120)  # for the whole face check
    attempts_before_staff: int = Field(3, ge=1, le=10)  # then the screen offers 呼叫工作人员


class AgentConfig(_Section):
    # Prometheus /metrics of `kiosk agent`, bound to 127.0.0.1 only; 0 turns it off.
    metrics_port: int = Field(9466, ge=0, le=65535)


class MaintenanceConfig(_Section):
    # The technician PIN's scrypt hash, written by `kiosk maintenance set-pin`;
    # default <state_dir>/secrets/maintenance_pin.
    pin_file: Path | None = None


class UiConfig(_Section):
    size: tuple[int, int] = DEFAULT_SIZE
    orientation: Literal["portrait", "landscape"] = DEFAULT_ORIENTATION  # ui_settings.ORIENTATIONS
    font: Path | None = None  # empty: found through fontconfig
    fullscreen: bool = DEFAULT_FULLSCREEN


class Config(_Section):
    terminal: TerminalConfig
    platform: PlatformConfig
    storage: StorageConfig
    devices: dict[str, DeviceConfig] = Field(default_factory=dict)
    session: SessionConfig = SessionConfig()
    face: FaceConfig
    ui: UiConfig = UiConfig()
    agent: AgentConfig = AgentConfig()
    maintenance: MaintenanceConfig = MaintenanceConfig()


def _describe(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"])
        reason = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        lines.append(f"  {key}: {reason}")
    return "\n".join(lines)


def parse_config(data: dict[str, Any], *, source: str = "<config>", base_dir: Path | None = None) -> Config:
    """Validate a config mapping; relative paths are taken relative to the config file's folder."""
    try:
        config = Config.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"invalid config {source}:\n{_describe(err)}") from None
    return _resolve_paths(config, base_dir) if base_dir else config


def load_config(path: Path | None = None) -> Config:
    path = path or DEFAULT_CONFIG_PATH
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path} (use --config FILE)") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read config {path}: {err}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config {path} is not valid TOML: {err}") from None
    return parse_config(data, source=str(path), base_dir=path.parent.resolve())


def _resolve_paths(config: Config, base: Path) -> Config:
    """Every relative path in the file is relative to the file (all sections, every Path key)."""

    def fixed(section: BaseModel) -> BaseModel:
        paths = {
            name: base / value
            for name, value in section
            if isinstance(value, Path) and not value.is_absolute()
        }
        return section.model_copy(update=paths)

    sections = {name: fixed(value) for name, value in config if isinstance(value, _Section)}
    return config.model_copy(update=sections)
