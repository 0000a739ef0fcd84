"""The kiosk's configuration: a TOML file, then environment overrides (``RETROWALK_KIOSK_...``).

Like the service's (retrowalk.config), every mistake is refused before anything listens or connects,
with the file, the field and the reason. The kiosk shares the service's `[broker]` table type, so its
TLS and credentials are written the same way; they stay in the kiosk process and never reach a browser.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from retrowalk.config import FileSettings
from retrowalk.errors import config_mistakes
from retrowalk.kiosk.passwords import PasswordHashError, parse_password_hash
from retrowalk.mqtt.settings import BrokerSettings

__all__ = [
    "ENV_PREFIX",
    "EXAMPLE_PASSWORD_HASH",
    "EXAMPLE_TOKEN_PREFIX",
    "MIN_TOKEN_CHARS",
    "HttpSection",
    "KioskSettings",
    "KioskTreadmill",
    "StaffSection",
    "load_kiosk_config",
    "published_secrets",
]

ENV_PREFIX = "RETROWALK_KIOSK_"
_STRICT = ConfigDict(extra="forbid", frozen=True, strict=True)
_ID = r"^[A-Za-z0-9_-]{1,64}$"
# A token is typed once into a kiosk's address; shorter ones could be guessed over the network.
MIN_TOKEN_CHARS = 16
# docs/examples/kiosk.toml is public: its placeholder tokens and the hash of the staff password printed
# beside it open every screen and the staff pages of a kiosk that keeps them.
EXAMPLE_TOKEN_PREFIX = "change-me"
EXAMPLE_PASSWORD_HASH = (
    "scrypt$16384$8$1$uFmnACtZ6G0LMvYmpWjANw==$Xa/RPLdiZa19Dtuqe3uqxicN7EIqvIGP2G9yt8Urly8="
)


class KioskTreadmill(BaseModel):
    """One treadmill this kiosk shows: its MQTT id, the service that drives it and its page's token."""

    model_config = _STRICT

    id: str = Field(pattern=_ID, description="the treadmill id of the service (its MQTT topic level)")
    service: str = Field(pattern=_ID, description="the [service] id of the `retrowalk serve` that drives it")
    token: SecretStr = Field(description="the secret a screen needs to open /t/<id>")
    label: str | None = Field(default=None, max_length=100, description="what people call it")

    @model_validator(mode="after")
    def _token_long_enough(self) -> Self:
        if len(self.token.get_secret_value()) < MIN_TOKEN_CHARS:
            raise config_mistakes(
                [
                    (
                        "token",
                        f"is shorter than {MIN_TOKEN_CHARS} characters, which could be guessed: make one "
                        "with `python3 -c 'import secrets; print(secrets.token_urlsafe(24))'`",
                    )
                ]
            )
        return self


class HttpSection(BaseModel):
    """Where the pages are served, and how long the kiosk waits for the service."""

    model_config = _STRICT

    host: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="address to listen on; localhost only unless set (e.g. 0.0.0.0 on a kiosk LAN)",
    )
    port: int = Field(default=8080, ge=0, le=65535, description="0: any free port (tests, the demo)")
    public_origin: str | None = Field(
        default=None,
        pattern=r"^https?://[^/\s]+$",
        description="the origin browsers see behind a reverse proxy, e.g. https://kiosk.gym1.lan",
    )
    tls_cert_file: Path | None = Field(default=None, strict=False, description="certificate (PEM)")
    tls_key_file: Path | None = Field(default=None, strict=False, description="its private key (PEM)")
    reply_timeout_s: float = Field(default=5.0, gt=0, le=60, description="wait for a command's reply")
    cookie_days: int = Field(default=365, ge=1, le=3650, description="how long a screen keeps its token")
    member_idle_minutes: float = Field(
        default=15.0, gt=0, le=24 * 60, description="a signed-in member is forgotten after this"
    )

    @model_validator(mode="after")
    def _tls_files(self) -> Self:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file must be given together")
        missing = [
            (name, f"{path} is not a readable file")
            for name in ("tls_cert_file", "tls_key_file")
            if (path := getattr(self, name)) is not None and not path.is_file()
        ]
        if missing:
            raise config_mistakes(missing)
        return self


class StaffSection(BaseModel):
    """The staff pages. Without a password hash they are switched off."""

    model_config = _STRICT

    password_hash: str | None = Field(
        default=None, description="from `retrowalk kiosk --hash-password`; never the password itself"
    )
    session_hours: float = Field(default=12.0, gt=0, le=24 * 7)

    @model_validator(mode="after")
    def _hash_readable(self) -> Self:
        if self.password_hash is not None:
            try:
                parse_password_hash(self.password_hash)
            except PasswordHashError as err:
                raise config_mistakes([("password_hash", str(err))]) from None
        return self


class KioskSettings(FileSettings):
    """Everything `retrowalk kiosk` reads at start-up: the file, overridden by RETROWALK_KIOSK_* variables
    read by the service's own rule (retrowalk.config.FileSettings)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX)

    http: HttpSection = HttpSection()
    staff: StaffSection = StaffSection()
    broker: BrokerSettings = BrokerSettings()
    treadmills: list[KioskTreadmill] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        problems = []
        seen_ids: set[str] = set()
        seen_tokens: dict[str, str] = {}
        for index, treadmill in enumerate(self.treadmills):
            if treadmill.id in seen_ids:
                problems.append((f"treadmills.{index}.id", f"{treadmill.id} is listed twice"))
            seen_ids.add(treadmill.id)
            token = treadmill.token.get_secret_value()
            if token in seen_tokens:
                problems.append(
                    (
                        f"treadmills.{index}.token",
                        f"is also the token of {seen_tokens[token]}: each screen needs its own, so a "
                        "screen opens only its own treadmill",
                    )
                )
            seen_tokens.setdefault(token, treadmill.id)
        if problems:
            raise config_mistakes(problems)
        return self

    @model_validator(mode="after")
    def _no_published_secrets_beyond_this_machine(self) -> Self:
        if not _loopback(self.http.host):
            found = published_secrets(self)
            if found:
                beyond = f" (http.host {self.http.host!r} serves the pages beyond this machine)"
                raise config_mistakes([(field, words + beyond) for field, words in found])
        return self

    def treadmill(self, treadmill_id: str) -> KioskTreadmill | None:
        return next((t for t in self.treadmills if t.id == treadmill_id), None)


def published_secrets(settings: KioskSettings) -> list[tuple[str, str]]:
    """The example's secrets still in ``settings`` (field, what to do): refused when the pages are served
    beyond this machine, warned about on localhost (trying the example there is fine)."""
    found = [
        (
            f"treadmills.{index}.token",
            "is the example's placeholder, which anyone can read: make one with "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(24))'",
        )
        for index, treadmill in enumerate(settings.treadmills)
        if treadmill.token.get_secret_value().startswith(EXAMPLE_TOKEN_PREFIX)
    ]
    if settings.staff.password_hash == EXAMPLE_PASSWORD_HASH:
        found.append(
            (
                "staff.password_hash",
                "is the example's, for the password printed beside it: make one with "
                "retrowalk kiosk --hash-password",
            )
        )
    return found


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def load_kiosk_config(path: Path, **overrides: Any) -> KioskSettings:
    """Read ``path`` (TOML), apply environment overrides, validate; raise ConfigError on any problem."""
    return KioskSettings.from_file(path, **overrides)
