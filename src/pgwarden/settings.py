"""Start-up settings: environment (PGWARDEN_*) and an optional pgwarden.toml.

These are read once per process. Anything an operator may want to change
without a restart belongs in the runtime config (`pgwarden.config`), which is
stored in the database: the settings sit below `db`, the runtime config above.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
import psycopg.conninfo
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from pgwarden.errors import SettingsInvalid

CONFIG_FILE_ENV = "PGWARDEN_CONFIG"
DEFAULT_CONFIG_FILE = "pgwarden.toml"
PG_ENV_VARS = ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD", "PGSERVICE")


def mask_conninfo(conninfo: str) -> str:
    """The same conninfo with any password replaced by ********."""
    try:
        parts = psycopg.conninfo.conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        return "<unparsable DSN>"
    if "password" in parts:
        parts["password"] = "********"
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in parts.items()})


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("pgwarden")) / "postgres"


class Settings(BaseSettings):
    """Effective start-up settings. Field names map to PGWARDEN_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="PGWARDEN_", extra="forbid")

    dsn: SecretStr | None = Field(
        default=None,
        description="libpq connection string or URI; unset (and no PGHOST) = embedded server",
    )
    schema_name: str = Field(
        default="pgwarden",
        alias="PGWARDEN_SCHEMA",
        validation_alias="PGWARDEN_SCHEMA",
        description="schema holding pgwarden's own tables",
    )
    data_dir: Path = Field(
        default_factory=default_data_dir, description="home of the embedded server"
    )
    timezone: str = Field(default="UTC", description="time zone for bounds and reports")
    pool_min_size: int = Field(default=1, ge=0, le=100)
    pool_max_size: int = Field(default=10, ge=1, le=1000)
    pool_timeout: float = Field(default=10.0, gt=0, description="seconds to wait for the pool")
    connect_timeout: float = Field(default=10.0, gt=0, description="seconds to reach the server")
    http_host: str = Field(default="127.0.0.1")
    http_port: int = Field(default=8765, ge=1, le=65535)
    api_token: SecretStr | None = Field(default=None)
    api_open_reads: bool | None = Field(
        default=None,
        description="GET endpoints need no token; unset: open only while the HTTP server "
        "listens on loopback",
    )
    metrics_token: SecretStr | None = Field(
        default=None, description="a token that may read /metrics only (for scrapers)"
    )
    reconnect_timeout: float = Field(
        default=300.0,
        gt=0,
        description="seconds `pgwarden run` keeps reconnecting to a lost database before it exits",
    )
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    log_level: str = Field(default="INFO")
    config_ttl: float = Field(default=5.0, ge=0, description="seconds runtime config is cached")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("schema_name")
    @classmethod
    def _schema_ok(cls, value: str) -> str:
        if not value or len(value.encode()) > 63:
            raise ValueError("must be 1 to 63 bytes")
        return value

    @field_validator("log_level")
    @classmethod
    def _level_ok(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return upper

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = Path(os.environ.get(CONFIG_FILE_ENV, DEFAULT_CONFIG_FILE))
        sources: list[PydanticBaseSettingsSource] = [init_settings, _EnvSource(settings_cls)]
        if path.is_file():
            sources.append(_TomlSource(settings_cls, path))
        return tuple(sources)

    @property
    def uses_embedded(self) -> bool:
        """Embedded unless a DSN or the standard PGHOST/PGSERVICE points elsewhere."""
        return self.dsn is None and not (os.environ.get("PGHOST") or os.environ.get("PGSERVICE"))

    def reads_open(self, host: str | None = None) -> bool:
        """Whether reads need no token: as set, or by default only on a loopback address."""
        if self.api_open_reads is not None:
            return self.api_open_reads
        return is_loopback(host or self.http_host)

    def masked(self) -> dict[str, Any]:
        """Every effective setting, with secrets and DSN passwords masked."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                raw = value.get_secret_value()
                value = mask_conninfo(raw) if name == "dsn" else "********"
            elif isinstance(value, Path):
                value = str(value)
            out[env_name(name)] = value
        out["mode"] = "embedded" if self.uses_embedded else "external"
        return out


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost; anything else (0.0.0.0 included) is not."""
    import ipaddress

    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _EnvSource(PydanticBaseSettingsSource):
    """The PGWARDEN_* variables (PGWARDEN_SCHEMA for `schema_name`), names matched without
    regard to case, each value handed to validation as the string it is: what
    pydantic-settings' own environment source does for fields of plain types, which all of
    these are (no JSON values, no nesting). That source works out every field's names and
    kind again at each construction: 0.2 of the 0.34 ms a Settings took, in every
    cron-started command; here the names are worked out once per class."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self._names = _env_names(settings_cls)

    def get_field_value(self, field_info: Any, field_name: str) -> tuple[Any, str, bool]:
        """One field's value, its key and False (not JSON); `__call__` reads them all at once."""
        for field, name, key in self._names:
            if field == field_name:
                return _lower_environ().get(name), key, False
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        env = _lower_environ()
        return {key: env[name] for _, name, key in self._names if name in env}


def _lower_environ() -> dict[str, str]:
    return {k.lower(): v for k, v in os.environ.items()}


@cache
def _env_names(settings_cls: type[BaseSettings]) -> tuple[tuple[str, str, str], ...]:
    """(field, its environment name in lower case, its key for validation) of every field:
    the name is the prefix and the field's name, or the field's alias (PGWARDEN_SCHEMA)."""
    prefix = str(settings_cls.model_config.get("env_prefix", "")).lower()
    out = []
    for name, field in settings_cls.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, str):
            out.append((name, alias.lower(), alias))
        else:
            out.append((name, prefix + name, name))
    return tuple(out)


class _TomlSource(TomlConfigSettingsSource):
    """pgwarden.toml keys are the field names without the prefix (`schema`, `dsn`)."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        super().__init__(settings_cls, toml_file=path)
        data = dict(self.toml_data)
        if "schema" in data:
            data["PGWARDEN_SCHEMA"] = data.pop("schema")
        self.toml_data = data

    def __call__(self) -> dict[str, Any]:
        return self.toml_data


def env_name(field: str) -> str:
    return "PGWARDEN_SCHEMA" if field == "schema_name" else f"PGWARDEN_{field.upper()}"


def load_settings(**overrides: Any) -> Settings:
    """Build Settings, turning pydantic's report into one readable error."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = err["loc"][0] if err["loc"] else "?"
        field = env_name(str(loc)) if not str(loc).startswith("PGWARDEN_") else str(loc)
        raise SettingsInvalid(field, err.get("input"), err["msg"]) from exc
