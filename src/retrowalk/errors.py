"""The one exception hierarchy of retrowalk.

Every error the service raises on purpose derives from :class:`RetrowalkError`, and the subclasses say
whose fault it is, because that decides what a person must do about it:

- :class:`RefusedError`: a request was refused before anything moved (an impossible plan, a command in
  the wrong phase, a bad payload). The caller can fix the request.
- :class:`TreadmillFaultError`: the treadmill misbehaved (garbage bytes, an unknown reply, a command it
  ignored, a range it cannot honour). The operator must look at the machine.
- :class:`LinkError`: the Bluetooth link is missing or broke. Retried by the service.
- :class:`ConfigError`: the configuration is invalid. Names the file, the field and the reason.
- :class:`SetupError`: something this machine must provide is missing or in the way (a program, a free
  port). Says what to install or change.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

from pydantic_core import PydanticCustomError

__all__ = [
    "REFUSAL_CODES",
    "ConfigError",
    "IllegalTransitionError",
    "LinkError",
    "PlanError",
    "RefusalCode",
    "RefusedError",
    "RetrowalkError",
    "SetupError",
    "StorageError",
    "TreadmillFaultError",
    "config_mistakes",
]

# Why a command was refused, for programs (a kiosk chooses its screen by it); the message says it for a
# person. A closed set: a value is never renamed or given a new meaning, and docs/mqtt.md lists them.
RefusalCode = Literal[
    "screening_needed",
    "see_clinician",
    "plan_refused",
    "not_connected",
    "wrong_phase",
    "already_walking",
    "no_session",
    "no_walker",
    "unknown_treadmill",
    "other",
]
REFUSAL_CODES: Final[tuple[RefusalCode, ...]] = get_args(RefusalCode)


class RetrowalkError(Exception):
    """Root of every error retrowalk raises on purpose."""


class RefusedError(RetrowalkError):
    """A request was refused and nothing changed. ``code`` says why for programs (the reply's `code`);
    each subclass has its own default, and a raise may name a more precise one."""

    code: RefusalCode = "other"

    def __init__(self, *args: object, code: RefusalCode | None = None) -> None:
        super().__init__(*args)
        if code is not None:
            self.code = code


class IllegalTransitionError(RefusedError):
    """An event is not allowed in the session's current phase; the state is unchanged."""

    code: RefusalCode = "wrong_phase"


class PlanError(RefusedError):
    """A session plan cannot be honoured (operator ceilings, treadmill ranges, screening)."""

    code: RefusalCode = "plan_refused"


class TreadmillFaultError(RetrowalkError):
    """The treadmill behaved in a way retrowalk cannot trust."""


class LinkError(RetrowalkError):
    """The link to a treadmill is missing or broke."""


class ConfigError(RetrowalkError):
    """The configuration is invalid."""


class StorageError(RetrowalkError):
    """The local SQLite store is unreadable, corrupt or from a newer retrowalk; names the file."""


class SetupError(RetrowalkError):
    """This machine lacks something retrowalk needs (a program, a free port); says what to do."""


def config_mistakes(problems: list[tuple[str, str]]) -> PydanticCustomError:
    """A validation error for mistakes a model finds across its fields: each ``(field, sentence)`` names
    the field below the model that raised it, and the configuration loader prints one line per problem."""
    summary = "; ".join(f"{field}: {sentence}" for field, sentence in problems)
    return PydanticCustomError("config_mistakes", "{summary}", {"summary": summary, "problems": problems})
