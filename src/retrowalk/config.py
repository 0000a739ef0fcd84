"""The service configuration: a TOML file, then environment overrides (``RETROWALK_...``).

Every mistake is refused before anything connects, with the file, the field and the reason, because a
service that guesses at a gym's speed ceiling is worse than one that does not start. The models are
strict, like the MQTT commands: ``"2.5"`` or ``"yes"`` in the file is text, not a number or a boolean.
Environment variables use ``__`` between levels: ``RETROWALK_CEILINGS__MAX_SPEED_KMH=2.5``,
``RETROWALK_BROKER__HOST=mqtt.local``; lists take JSON: ``RETROWALK_TREADMILLS='[{"id": "tm1"}]'``. Their
values are always text, so each is first read as the type of its field (pydantic-settings does this for
strict models; booleans take true/false, yes/no, on/off, 1/0 there).
"""

from __future__ import annotations

import getpass
import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from retrowalk.errors import ConfigError, config_mistakes
from retrowalk.mqtt.payloads import UserId
from retrowalk.mqtt.settings import BrokerSettings
from retrowalk.session.plan import OperatorCeilings, SessionPlan, to_centi
from retrowalk.session.safety_constants import CAUTIOUS_MAX_SPEED_KMH
from retrowalk.validation_text import problem_message

__all__ = [
    "FileSettings",
    "HomeAssistantSection",
    "LinkSection",
    "ServiceSection",
    "Settings",
    "TreadmillConfig",
    "TypedEnvironment",
    "describe_validation_error",
    "load_config",
    "read_toml",
]

_MAC = r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$"
_ENV_PREFIX = "RETROWALK_"
# Strict like the MQTT commands (see the module docstring); paths stay lax, TOML has no path type.
_STRICT = ConfigDict(extra="forbid", frozen=True, strict=True)
# The shortest wait for a connected treadmill's first data ([link] no_data_timeout_s).
MIN_NO_DATA_TIMEOUT_S = 3.0


class TreadmillConfig(BaseModel):
    """One treadmill this service drives."""

    model_config = _STRICT

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$", description="short id used in MQTT topics")
    address: str | None = Field(default=None, pattern=_MAC, description="Bluetooth address")
    name: str | None = Field(default=None, min_length=1, description="advertised name, if no address")
    label: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="what people call it, e.g. 'Treadmill 3 by the window'; Home Assistant's device name",
    )
    area: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="the Home Assistant area suggested for the device when it is first discovered",
    )
    kiosk_url: str | None = Field(
        default=None,
        max_length=512,
        description="the kiosk page of this treadmill (http:// or https://); Home Assistant links the device "
        "page to it",
    )

    @field_validator("kiosk_url")
    @classmethod
    def _kiosk_url_is_a_web_address(cls, url: str | None) -> str | None:
        # Home Assistant links the device page to it: anything but a plain web address would be a dead link.
        if url is not None and not re.fullmatch(r"https?://[^\s/$.?#][^\s]*", url):
            raise PydanticCustomError(
                "kiosk_url",
                "{url} is not a web address: write it as http://host:port/path or https://..., without "
                "spaces, e.g. http://raspberrypi.local:8080/",
                {"url": url},
            )
        return url

    @field_validator("address")
    @classmethod
    def _address_in_upper_case(cls, address: str | None) -> str | None:
        # BlueZ spells addresses in upper case; one spelling makes duplicates visible.
        return address.upper() if address is not None else None


class ServiceSection(BaseModel):
    model_config = _STRICT

    id: str = Field(default="retrowalk", pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    storage: Path = Field(
        default=Path("retrowalk.sqlite3"), strict=False, description="SQLite file: history and outbox"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    tick_hz: float = Field(
        default=5.0,
        ge=2.0,
        le=50.0,
        description="how often the engine is ticked in a session (ticks that would do nothing are skipped)",
    )

    @field_validator("storage")
    @classmethod
    def _storage_can_be_opened(cls, storage: Path) -> Path:
        # retrowalk does not create the directory: a missing one is usually a typo or a disk that is not
        # mounted, and a fresh empty history there would silently forget screening and progression.
        directory = storage.parent
        if not directory.is_dir():
            raise PydanticCustomError(
                "storage_directory",
                "the directory {directory} does not exist and retrowalk does not create it: create it, "
                "writable by the user retrowalk runs as, or point storage at an existing directory",
                {"directory": str(directory)},
            )
        if storage.exists() and not storage.is_file():
            raise PydanticCustomError(
                "storage_not_a_file",
                "{storage} exists but is not a file: point storage at a file name",
                {"storage": str(storage)},
            )
        if not os.access(directory, os.W_OK | os.X_OK):
            raise PydanticCustomError(
                "storage_not_writable",
                "user {user} cannot write in {directory} (SQLite keeps its journal beside the file): "
                "make the directory writable for the user retrowalk runs as",
                {"user": getpass.getuser(), "directory": str(directory)},
            )
        return storage


class LinkSection(BaseModel):
    model_config = _STRICT

    command_timeout_s: float = Field(default=2.0, gt=0, le=10)
    scan_timeout_s: float = Field(default=10.0, gt=0, le=120)
    connect_timeout_s: float = Field(default=20.0, gt=0, le=120)
    backoff_initial_s: float = Field(default=0.5, gt=0, le=60)
    backoff_max_s: float = Field(default=30.0, gt=0, le=600)
    no_data_timeout_s: float = Field(
        default=10.0,
        le=120,
        description="a treadmill that connects but sends no data this long is dropped, saying why",
    )
    adapter: str | None = Field(
        default=None,
        pattern=r"^hci[0-9]{1,2}$",
        description="Bluetooth adapter to use, e.g. 'hci1' (one service per adapter); default: the system's",
    )

    @field_validator("no_data_timeout_s")
    @classmethod
    def _time_for_a_first_frame(cls, seconds: float) -> float:
        # Treadmills notify once or twice a second; a shorter wait would drop one whose first frame is
        # merely late, and reconnect it over and over.
        if seconds < MIN_NO_DATA_TIMEOUT_S:
            raise PydanticCustomError(
                "no_data_timeout_too_short",
                "{seconds} s is too short: treadmills send data once or twice a second, and one whose "
                "first frame is late would be dropped again and again; set at least {minimum} s",
                {"seconds": f"{seconds:g}", "minimum": f"{MIN_NO_DATA_TIMEOUT_S:g}"},
            )
        return seconds

    @model_validator(mode="after")
    def _backoff_grows(self) -> Self:
        # Checked here, not only when a link starts: a reversed pair would fail every runner at start.
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError("backoff_max_s must be >= backoff_initial_s")
        return self


class HomeAssistantSection(BaseModel):
    """What Home Assistant offers beyond following sessions (docs/getting-started-home.md)."""

    model_config = _STRICT

    walkers: list[UserId] = Field(
        default_factory=list,
        max_length=50,
        description="the people Home Assistant may start sessions for; each is offered only once screened "
        "(and cleared where the screening asks for it)",
    )

    @field_validator("walkers")
    @classmethod
    def _walkers_distinct(cls, walkers: list[str]) -> list[str]:
        repeated = sorted({w for w in walkers if walkers.count(w) > 1})
        if repeated:
            raise PydanticCustomError(
                "walkers_repeated", "{names} named more than once", {"names": ", ".join(repeated)}
            )
        return walkers


class FileSettings(BaseSettings):
    """The one rule for settings read from a TOML file: the file's values arrive as init values, the
    environment (read by :class:`TypedEnvironment`, under the subclass's ``env_prefix``) overrides them,
    and a field neither sets keeps its default. `retrowalk serve`'s and `retrowalk kiosk`'s settings are
    both read this way; the demo's switch the environment off (``reads_environment``)."""

    model_config = SettingsConfigDict(env_nested_delimiter="__", extra="forbid", frozen=True, strict=True)

    # False: only the values given count (the demo must not be pointed at a real service's storage).
    reads_environment: ClassVar[bool] = True

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        if not cls.reads_environment:
            return (init_settings,)
        # The environment overrides the file (which arrives as init values).
        return (TypedEnvironment(settings_cls, env_settings), init_settings)

    @classmethod
    def from_file(cls, path: Path | None, **overrides: Any) -> Self:
        """Read ``path`` (TOML; None: the environment alone), apply ``overrides`` and the environment,
        validate; raise ConfigError naming the file or the variable of each problem."""
        where = str(path) if path else "the environment"
        data: dict[str, Any] = read_toml(path) if path is not None else {}
        data.update(overrides)
        try:
            return cls(**data)
        except ValidationError as err:
            prefix = str(cls.model_config.get("env_prefix", ""))
            raise ConfigError(describe_validation_error(where, err, env_prefix=prefix)) from None


class Settings(FileSettings):
    """Everything `retrowalk serve` reads at start-up."""

    model_config = SettingsConfigDict(env_prefix=_ENV_PREFIX)

    service: ServiceSection = ServiceSection()
    ceilings: OperatorCeilings = OperatorCeilings()
    # Overrides for the plans retrowalk makes itself (first sessions, progression), e.g. cool_down_s.
    default_plan: dict[str, Any] = Field(default_factory=dict)
    treadmills: list[TreadmillConfig] = Field(min_length=1)
    # No [broker] table: sessions run locally, nothing is published.
    broker: BrokerSettings | None = None
    link: LinkSection = LinkSection()
    home_assistant: HomeAssistantSection = HomeAssistantSection()

    @model_validator(mode="after")
    def _default_plan_can_start_sessions(self) -> Self:
        # Checked now, not at the first start: a typo must not wait for a person on the belt.
        try:
            plan = SessionPlan.model_validate({**SessionPlan().model_dump(), **self.default_plan})
        except ValidationError as err:
            raise config_mistakes(
                [(f"default_plan.{_dotted(e['loc'])}", _sentence(e)) for e in err.errors()]
            ) from None
        problems = []
        for field, ceiling in _CEILING_OF.items():
            value, limit = getattr(plan, field), getattr(self.ceilings, ceiling)
            if field in self.default_plan and to_centi(value) > to_centi(limit):
                problems.append(
                    (
                        f"default_plan.{field}",
                        f"{value} is above ceilings.{ceiling} ({limit}), so every start would be refused: "
                        f"lower it or raise ceilings.{ceiling}",
                    )
                )
        target = plan.target_speed_kmh
        cautious = to_centi(target) > to_centi(CAUTIOUS_MAX_SPEED_KMH)
        if not problems and "target_speed_kmh" in self.default_plan and cautious:
            problems.append(
                (
                    "default_plan.target_speed_kmh",
                    f"{target} is above {CAUTIOUS_MAX_SPEED_KMH} km/h, the ceiling for people aged 65 or "
                    "more or with a balance concern, so every start for them would be refused: set at most "
                    f"{CAUTIOUS_MAX_SPEED_KMH} or leave the target to the progression",
                )
            )
        if problems:
            raise config_mistakes(problems)
        return self

    @model_validator(mode="after")
    def _treadmills_distinct(self) -> Self:
        problems = []
        for key in ("id", "address", "name"):
            first_with: dict[str, str] = {}
            for index, treadmill in enumerate(self.treadmills):
                value = getattr(treadmill, key)
                if value is None:
                    continue
                if value in first_with:
                    problems.append(
                        (
                            f"treadmills.{index}.{key}",
                            f"{value} is also the {key} of treadmill {first_with[value]}"
                            + (" (addresses are compared in upper case)" if key == "address" else "")
                            + ": each [[treadmills]] table must name a different treadmill",
                        )
                    )
                first_with.setdefault(value, str(index if key == "id" else treadmill.id))
        anonymous = [t.id for t in self.treadmills if not t.address and not t.name]
        if anonymous and len(self.treadmills) > 1:
            problems.append(
                (
                    "treadmills",
                    f"{', '.join(anonymous)} have neither address nor name; with several treadmills each "
                    "needs one, or they would all claim the same machine",
                )
            )
        if problems:
            raise config_mistakes(problems)
        return self


# The plan fields [default_plan] may set that an operator ceiling bounds.
_CEILING_OF = {
    "target_speed_kmh": "max_speed_kmh",
    "duration_cap_s": "max_duration_s",
    "incline_pct": "max_incline_pct",
}


class TypedEnvironment(PydanticBaseSettingsSource):
    """The one rule for environment overrides, `retrowalk serve`'s and `retrowalk kiosk`'s alike.

    pydantic-settings reads environment text as the type of a strict model's field, but [default_plan]
    is a dict in the model: its values are read here as SessionPlan's field types. A whole table given
    as one variable must be JSON; pydantic-settings says only "error parsing value" for one that is
    not, so that becomes a ConfigError naming the variable and what to write."""

    def __init__(self, settings_cls: type[BaseSettings], environment: PydanticBaseSettingsSource) -> None:
        super().__init__(settings_cls)
        self._environment = environment

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # everything happens in __call__

    def __call__(self) -> dict[str, Any]:
        try:
            values = self._environment()
        except SettingsError as err:
            raise ConfigError(self._unreadable(err)) from None
        plan = values.get("default_plan")
        if isinstance(plan, dict):
            values["default_plan"] = {name: _as_plan_field(name, value) for name, value in plan.items()}
        return values

    def _unreadable(self, err: SettingsError) -> str:
        prefix = str(self.settings_cls.model_config.get("env_prefix", "")).upper()
        environment = {name.upper(): value for name, value in os.environ.items()}
        lines = []
        for field in self.settings_cls.model_fields:
            variable = f"{prefix}{field.upper()}"
            text = environment.get(variable)
            if text is None:
                continue
            try:
                json.loads(text)
            except ValueError:
                lines.append(
                    f"{variable} (environment): {field}: is not JSON (the value is not shown: it may hold "
                    f"a secret); write it as JSON, {variable}='{{\"name\": value}}' for a table or "
                    f"'[{{...}}]' for a list of them, or set one field at a time, {variable}__NAME=value"
                )
        return "invalid configuration:\n  " + "\n  ".join(lines or [str(err)])


def _as_plan_field(name: str, value: Any) -> Any:
    """Environment text as the type of SessionPlan's field ``name``; unchanged when it cannot be (the
    strict plan then names the field and the problem)."""
    field = SessionPlan.model_fields.get(name)
    if field is None or field.annotation is None or not isinstance(value, str):
        return value
    try:
        return TypeAdapter(field.annotation).validate_strings(value.strip())
    except ValidationError:
        return value


def load_config(path: Path | None, **overrides: Any) -> Settings:
    """Read ``path`` (TOML), apply environment overrides, validate; raise ConfigError on any problem."""
    return Settings.from_file(path, **overrides)


def read_toml(path: Path) -> dict[str, Any]:
    """The TOML file at ``path`` as a dict, or ConfigError saying what to do (also `retrowalk kiosk`'s)."""
    where = str(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
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
        raise ConfigError(f"{where}: not a text file in UTF-8; give the TOML configuration file") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{where}: not valid TOML ({err}); correct the file there") from None


def describe_validation_error(where: str, err: ValidationError, env_prefix: str = _ENV_PREFIX) -> str:
    """One line per problem: ``file: field.path: reason``; a value that came from the environment names
    its variable instead of the file."""
    from_environment = _environment_fields(env_prefix)
    lines = []
    for problem in err.errors():
        for field, sentence in _problems(problem):
            source = next(
                (
                    name
                    for name, path in from_environment.items()
                    if field == path or field.startswith(path + ".")
                ),
                None,
            )
            origin = f"{source} (environment)" if source else where
            lines.append(f"{origin}: {field or '(top level)'}: {sentence}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def _problems(problem: Any) -> list[tuple[str, str]]:
    """(dotted field, sentence) for one pydantic error; a :func:`config_mistakes` error holds several."""
    here = _dotted(problem["loc"])
    if problem["type"] == "config_mistakes":
        return [(".".join(p for p in (here, field) if p), text) for field, text in problem["ctx"]["problems"]]
    return [(here, _sentence(problem))]


def _dotted(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _sentence(problem: Any) -> str:
    """pydantic's message, except for text where a number or a boolean belongs: say what to write."""
    value, name = problem.get("input"), str(problem["loc"][-1]) if problem["loc"] else "value"
    if not isinstance(value, str):
        return problem_message(problem)
    if problem["type"] in ("float_type", "int_type"):
        if _is_number(value):
            return f'"{value}" is text in quotes, not a number: write {name} = {value.strip()} without quotes'
        return f'"{value}" is not a number: write a number (in the file without quotes)'
    if problem["type"] == "bool_type":
        if value.strip().lower() in ("true", "false"):
            return f'"{value}" is text in quotes: write {name} = {value.strip().lower()} without quotes'
        return f'"{value}" is not a boolean: write true or false (in the file without quotes)'
    return problem_message(problem)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _environment_fields(env_prefix: str) -> dict[str, str]:
    """RETROWALK_* variable -> the dotted field it sets (``RETROWALK_CEILINGS__MAX_SPEED_KMH`` ->
    ``ceilings.max_speed_kmh``)."""
    return {
        name: name[len(env_prefix) :].lower().replace("__", ".")
        for name in os.environ
        if name.upper().startswith(env_prefix)
    }
