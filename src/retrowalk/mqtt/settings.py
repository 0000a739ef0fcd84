"""Broker settings: the `[broker]` table of the service's configuration file."""

from __future__ import annotations

import getpass
import os
import re
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from retrowalk.errors import config_mistakes

__all__ = ["MQTT_TLS_PORT", "BrokerSettings", "TlsSettings"]

# MQTT topic levels may not contain wildcards; a prefix with them would make every subscription wrong.
_PREFIX_RE = re.compile(r"^[^#+\x00]*/$")
# IANA's port for MQTT over TLS: a plain connection there is closed by the broker without an answer.
MQTT_TLS_PORT = 8883
# Strict like the MQTT commands: a quoted "2.5" or "yes" in the file is a mistake, not a number or a
# boolean. Paths stay lax: TOML has no path type, so they arrive as text.
_STRICT = ConfigDict(extra="forbid", frozen=True, strict=True)


class TlsSettings(BaseModel):
    """TLS towards the broker. A CA file alone gives an encrypted, server-verified link; a client
    certificate and key add client authentication (mosquitto `require_certificate true`)."""

    model_config = _STRICT

    ca_file: Path | None = Field(
        default=None, strict=False, description="CA bundle that signed the broker's certificate"
    )
    cert_file: Path | None = Field(default=None, strict=False, description="client certificate (PEM)")
    key_file: Path | None = Field(default=None, strict=False, description="client private key (PEM)")
    insecure: bool = Field(
        default=False,
        description="skip the broker host name check (the chain is still verified); test rigs only",
    )

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> Self:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("tls.cert_file and tls.key_file must be given together")
        unreadable = [
            (
                name,
                f"{path} is not a readable file for user {getpass.getuser()}: create it "
                "(docs/deployment.md has the openssl commands) or correct the path",
            )
            for name in ("ca_file", "cert_file", "key_file")
            if (path := getattr(self, name)) is not None and not (path.is_file() and os.access(path, os.R_OK))
        ]
        if unreadable:
            raise config_mistakes(unreadable)
        return self


class BrokerSettings(BaseModel):
    """Where and how the MQTT bridge connects."""

    model_config = _STRICT

    host: str = Field(default="localhost", min_length=1)
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    tls: TlsSettings | None = None
    prefix: str = Field(default="retrowalk/v1/", description="versioned topic prefix, ends with '/'")
    discovery_prefix: str = Field(default="homeassistant", description="Home Assistant discovery prefix")
    discovery: bool = Field(default=True, description="publish Home Assistant device discovery")
    client_id: str | None = Field(default=None, max_length=64, description="default: retrowalk-<service id>")
    keepalive: int = Field(default=30, ge=5, le=3600)
    protocol: Literal["auto", "5", "3.1.1"] = "auto"
    connect_timeout_s: float = Field(default=10.0, gt=0, le=120, description="CONNACK and publish-ack wait")
    reconnect_min_s: float = Field(default=0.5, gt=0, le=60)
    reconnect_max_s: float = Field(default=30.0, gt=0, le=3600)
    max_command_bytes: int = Field(default=16 * 1024, ge=256, le=1024 * 1024)

    @field_validator("prefix")
    @classmethod
    def _prefix_shape(cls, value: str) -> str:
        if not _PREFIX_RE.match(value) or value.startswith("/") or "//" in value:
            raise ValueError("prefix must end with '/', not start with '/', and contain no '+', '#' or '//'")
        return value

    @field_validator("discovery_prefix")
    @classmethod
    def _discovery_prefix_shape(cls, value: str) -> str:
        if not value or any(c in value for c in "+#") or value.endswith("/") or value.startswith("/"):
            raise ValueError("discovery_prefix must be a plain topic like 'homeassistant'")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.password is not None and self.username is None:
            raise ValueError("password given without username")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        if self.port == MQTT_TLS_PORT and self.tls is None:
            # Checked here and not only at the first connection: the broker's silent close would
            # otherwise look like a timeout.
            raise config_mistakes(
                [
                    (
                        "port",
                        f"{MQTT_TLS_PORT} is the port for MQTT over TLS, but there is no [broker.tls] "
                        "table, so the broker would close every connection: add [broker.tls] with "
                        "ca_file (docs/configuration.md), or use the broker's plain port (usually 1883)",
                    )
                ]
            )
        return self
