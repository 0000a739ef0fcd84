"""The service configuration: a TOML file, then environment overrides (``RETROWALK_...``).

Every mistake is refused before anything connects, with the file, the field and the reason, because a
service that guesses at a gym's speed ceiling is worse than one that does not start. Environment
variables use ``__`` between levels: ``RETROWALK_CEILINGS__MAX_SPEED_KMH=2.5``,
``RETROWALK_BROKER__HOST=mqtt.local``; lists take JSON: ``RETROWALK_TREADMILLS='[{"id": "tm1"}]'``.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from retrowalk.errors import ConfigError
from retrowalk.mqtt.settings import BrokerSettings
from retrowalk.session.plan import OperatorCeilings, SessionPlan
from retrowalk.validation_text import problem_message

_MAC = r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$"


def _numbers_from_env(value: Any) -> Any:
    """Environment variables arrive as strings; the plan models are strict, so decode numbers first."""
    if not isinstance(value, dict):
        return value
    return {key: _json_or_text(item) if isinstance(item, str) else item for key, item in value.items()}


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


class TreadmillConfig(BaseModel):
    """One treadmill this service drives."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$", description="short id used in MQTT topics")
    address: str | None = Field(default=None, pattern=_MAC, description="Bluetooth address")
    name: str | None = Field(default=None, min_length=1, description="advertised name, if no address")
    label: str | None = Field(
        default=None, description="what people call it, e.g. 'Treadmill 3 by the window'"
    )


class ServiceSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(default="retrowalk", pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    storage: Path = Field(default=Path("retrowalk.sqlite3"), description="SQLite file: history and outbox")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    tick_hz: float = Field(
        default=5.0,
        ge=2.0,
        le=50.0,
        description="how often the engine is ticked in a session (ticks that would do nothing are skipped)",
    )


class LinkSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    command_timeout_s: float = Field(default=2.0, gt=0, le=10)
    scan_timeout_s: float = Field(default=10.0, gt=0, le=120)
    connect_timeout_s: float = Field(default=20.0, gt=0, le=120)
    backoff_initial_s: float = Field(default=0.5, gt=0, le=60)
    backoff_max_s: float = Field(default=30.0, gt=0, le=600)
    adapter: str | None = Field(
        default=None,
        pattern=r"^hci[0-9]{1,2}$",
        description="Bluetooth adapter to use, e.g. 'hci1' (one service per adapter); default: the system's",
    )


class Settings(BaseSettings):
    """Everything `retrowalk serve` reads at start-up."""

    model_config = SettingsConfigDict(
        env_prefix="RETROWALK_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    service: ServiceSection = ServiceSection()
    ceilings: Annotated[OperatorCeilings, BeforeValidator(_numbers_from_env)] = OperatorCeilings()
    # Overrides for the plans retrowalk makes itself (first sessions, progression), e.g. cool_down_s.
    default_plan: Annotated[dict[str, Any], BeforeValidator(_numbers_from_env)] = Field(default_factory=dict)
    treadmills: list[TreadmillConfig] = Field(min_length=1)
    # No [broker] table: sessions run locally, nothing is published.
    broker: BrokerSettings | None = None
    link: LinkSection = LinkSection()

    @model_validator(mode="after")
    def _default_plan_is_a_plan(self) -> Self:
        # Checked now, not at the first start: a typo must not wait for a person on the belt.
        try:
            SessionPlan.model_validate({**SessionPlan().model_dump(), **self.default_plan})
        except ValidationError as err:
            problems = "; ".join(
                f"{'.'.join(map(str, ('default_plan', *e['loc'])))}: {problem_message(e)}"
                for e in err.errors()
            )
            raise ValueError(problems) from None
        return self

    @model_validator(mode="after")
    def _treadmills_distinct(self) -> Self:
        ids = [t.id for t in self.treadmills]
        if len(set(ids)) != len(ids):
            raise ValueError(f"treadmill ids must be unique, got {ids}")
        anonymous = [t.id for t in self.treadmills if not t.address and not t.name]
        if anonymous and len(self.treadmills) > 1:
            raise ValueError(
                f"treadmills {anonymous} have neither address nor name; with several treadmills each "
                "needs one, or they would all claim the same machine"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the file (which arrives as init values).
        return (env_settings, init_settings)


def load_config(path: Path | None, **overrides: Any) -> Settings:
    """Read ``path`` (TOML), apply environment overrides, validate; raise ConfigError on any problem."""
    where = str(path) if path else "the environment"
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(
                f"{where}: no such file; give the path of your configuration file "
                "(docs/configuration.md shows one)"
            ) from None
        except OSError as err:
            raise ConfigError(
                f"{where}: cannot read it ({err.strerror or err}); check the path and its permissions"
            ) from None
        except UnicodeDecodeError:
            raise ConfigError(
                f"{where}: not a text file in UTF-8; give the TOML configuration file"
            ) from None
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{where}: not valid TOML ({err}); correct the file there") from None
    data.update(overrides)
    try:
        return Settings(**data)
    except ValidationError as err:
        raise ConfigError(describe_validation_error(where, err)) from None


def describe_validation_error(where: str, err: ValidationError) -> str:
    """One line per problem: ``file: field.path: reason``."""
    lines = []
    for problem in err.errors():
        field = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        lines.append(f"{where}: {field}: {problem_message(problem)}")
    return "invalid configuration:\n  " + "\n  ".join(lines)
