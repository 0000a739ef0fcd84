"""Commands kiosks send on `<prefix>treadmill/<id>/command`, and the replies they get.

Validation here is about shape and absolute bounds (the clinical absolute ceilings of references §2);
whether a plan fits the operator's ceilings and the treadmill is the engine's call, reached only through
:class:`CommandHandler`.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated, Any, Literal, Protocol

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from retrowalk.errors import RefusalCode, RefusedError
from retrowalk.mqtt.payloads import PlanInfo, UserId, utc_now
from retrowalk.validation_text import problem_message

__all__ = [
    "CLEARED_BY_MAX_LENGTH",
    "COMMAND_ADAPTER",
    "Answer",
    "ClearanceCommand",
    "ClearanceRecorded",
    "Command",
    "CommandHandler",
    "CommandId",
    "CommandReply",
    "InvalidCommandError",
    "MemberCommand",
    "MemberInfo",
    "MemberSession",
    "PainRecorded",
    "PainReportCommand",
    "PauseCommand",
    "PlanRequest",
    "ResumeCommand",
    "ScreeningCommand",
    "SelectWalkerCommand",
    "StartCommand",
    "StartWalkerCommand",
    "StopCommand",
    "ValidationIssue",
    "WalkerPainCommand",
    "parse_command",
    "readable_command_id",
]

CommandId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]


class _Command(BaseModel):
    # Unknown fields are refused: a typo in a safety-relevant field must not be silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    command_id: CommandId


class PlanRequest(BaseModel):
    """A plan a kiosk asks for. Absolute bounds only; the engine clamps nothing and refuses what exceeds
    the operator's ceilings."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    start_speed_kmh: Annotated[float, Field(ge=0.5, le=3.5)] | None = None
    max_speed_kmh: Annotated[float, Field(ge=0.5, le=3.5)] | None = None
    duration_cap_s: Annotated[int, Field(ge=60, le=30 * 60)] | None = None
    incline_pct: Annotated[float, Field(ge=0, le=5)] | None = None


class StartCommand(_Command):
    type: Literal["start"]
    user_id: UserId
    plan: PlanRequest | None = None


class StopCommand(_Command):
    type: Literal["stop"]


class PauseCommand(_Command):
    type: Literal["pause"]


class ResumeCommand(_Command):
    type: Literal["resume"]


class PainReportCommand(_Command):
    type: Literal["pain_report"]
    user_id: UserId
    session_id: str | None = Field(default=None, max_length=64)
    # "before" is the baseline the pain rule compares the next morning with.
    when: Literal["before", "during", "after", "next_morning"]
    pain: Annotated[int, Field(ge=0, le=10)]
    swelling: bool = False
    giving_way: bool = False


class SelectWalkerCommand(_Command):
    """Home Assistant's walker select: who the next `start_walker` and `walker_pain_report` are for."""

    type: Literal["select_walker"]
    user_id: UserId


class StartWalkerCommand(_Command):
    """Start a session for the walker chosen with `select_walker` (Home Assistant's Start button)."""

    type: Literal["start_walker"]


class WalkerPainCommand(_Command):
    """A pain report for the chosen walker (Home Assistant's pain inputs). Pain *during* a session is taken
    only with a `pain_report` naming the person, so that a stray press cannot end someone's session."""

    type: Literal["walker_pain_report"]
    when: Literal["before", "after", "next_morning"]
    pain: Annotated[int, Field(ge=0, le=10)]


class ScreeningCommand(_Command):
    """The seed article's "consult a clinician first" questions, plus age (it lowers the speed ceiling)."""

    type: Literal["screening"]
    user_id: UserId
    age: Annotated[int, Field(ge=10, le=120)]
    severe_knee_oa: bool
    ligament_injury: bool
    balance_disorder_or_dizziness: bool
    recent_knee_surgery: bool


def _not_blank(text: str) -> str:
    if not text:
        raise ValueError("must name someone (it is blank)")
    return text


# The longest "who cleared the person" a clearance carries; the kiosk page's input allows as much.
CLEARED_BY_MAX_LENGTH = 100


class ClearanceCommand(_Command):
    type: Literal["clearance"]
    user_id: UserId
    # Stripped, and refused when nothing is left: a clearance must say who gave it ("by    " names no one).
    cleared_by: Annotated[
        str,
        StringConstraints(strip_whitespace=True, max_length=CLEARED_BY_MAX_LENGTH),
        AfterValidator(_not_blank),
        Field(json_schema_extra={"minLength": 1}),
    ]
    valid_until: date | None = None
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


class MemberCommand(_Command):
    """Read-only: what a kiosk shows a signed-in person (screening status, next plan, past sessions).
    Nothing is recorded; the answer is in the reply's `member`."""

    type: Literal["member"]
    user_id: UserId


Command = Annotated[
    StartCommand
    | StopCommand
    | PauseCommand
    | ResumeCommand
    | PainReportCommand
    | ScreeningCommand
    | ClearanceCommand
    | MemberCommand
    | SelectWalkerCommand
    | StartWalkerCommand
    | WalkerPainCommand,
    Field(discriminator="type"),
]
COMMAND_ADAPTER: TypeAdapter[Command] = TypeAdapter(Command)


class ValidationIssue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    loc: str = Field(description="dotted path of the offending field ('' for the whole payload)")
    msg: str
    type: str


class MemberSession(BaseModel):
    """One past session of a person, as a kiosk's history screen lists it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    session_id: str
    treadmill_id: str
    started_at: datetime
    ended_at: datetime
    end_reason: str
    walked_s: float
    distance_m: float
    max_speed_kmh: float
    pain_during: int | None = None


class MemberInfo(BaseModel):
    """The answer to a `member` command."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_id: UserId
    screening: Literal["needed", "passed", "see_clinician"] = Field(
        description="needed: no answers on record; see_clinician: the answers (or the pain history) ask for "
        "a clinician's clearance first"
    )
    next_plan: PlanInfo | None = Field(description="the plan a start would get now on this treadmill, if any")
    plan_notes: list[str] = Field(description="why this plan, or why there is none, for a person")
    sessions: list[MemberSession] = Field(description="the last 50 sessions, oldest first")


class PainRecorded(BaseModel):
    """The answer to an accepted `pain_report` or `walker_pain_report`: the session it was recorded for."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    session_id: str | None


class ClearanceRecorded(BaseModel):
    """The answer to an accepted `clearance`: what a person should know about it (null: nothing)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    note: str | None


# What a handler may answer an accepted command with, beside nothing.
Answer = MemberInfo | PainRecorded | ClearanceRecorded


class CommandReply(BaseModel):
    """Answer to one command. `accepted`: the engine took it. `refused`: valid, but the engine said no
    (reason says why). `invalid`: the payload was rejected before reaching the engine (errors say
    where). `error`: the engine failed unexpectedly; nothing is assumed to have happened."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    command_id: str | None = Field(description="null when the payload was too broken to carry one")
    treadmill_id: str
    status: Literal["accepted", "refused", "invalid", "error"]
    reason: str | None = None
    code: RefusalCode | None = Field(
        default=None,
        description="why a `refused` reply refused, for programs (listed in docs/mqtt.md); else null",
    )
    errors: list[ValidationIssue] = Field(default_factory=list)
    replayed: bool = Field(default=False, description="true when this is the stored reply to a repeat")
    at: datetime = Field(default_factory=utc_now)
    member: MemberInfo | None = Field(default=None, description="the answer to an accepted `member` command")
    session_id: str | None = Field(
        default=None,
        description="the session an accepted `pain_report` or `walker_pain_report` was recorded for; null "
        "for other commands and for a `before` score kept until the person's start",
    )
    note: str | None = Field(
        default=None,
        description="for an accepted `clearance`, what it does not do (it clears nothing: no screening "
        "answer is 'yes' and no referral); null otherwise",
    )


class CommandHandler(Protocol):
    """Implemented by the service: the only way a command reaches a treadmill.

    Return normally to accept (with the answer of a `member` command, the session a pain report was
    recorded for, None for the others). Raise
    :class:`retrowalk.errors.RefusedError` (or a subclass) to refuse; its message is sent to the kiosk
    verbatim, so write it for a person. Any other exception becomes an `error` reply with a generic
    reason (and is logged)."""

    async def handle_command(self, treadmill_id: str, command: Command) -> Answer | None: ...


class InvalidCommandError(RefusedError):
    """Raised by :func:`parse_command`: the payload was refused before reaching the engine; carries the
    reply to send."""

    def __init__(self, reply: CommandReply) -> None:
        super().__init__(reply.reason)
        self.reply = reply


def _issues(exc: ValidationError) -> list[ValidationIssue]:
    return [
        ValidationIssue(loc=".".join(str(p) for p in err["loc"]), msg=problem_message(err), type=err["type"])
        for err in exc.errors(include_url=False, include_input=False)
    ]


def _invalid(treadmill_id: str, command_id: str | None, reason: str, **kw: Any) -> InvalidCommandError:
    return InvalidCommandError(
        CommandReply(command_id=command_id, treadmill_id=treadmill_id, status="invalid", reason=reason, **kw)
    )


def parse_command(treadmill_id: str, raw: bytes, *, max_bytes: int) -> Command:
    """Decode and validate one command payload, or raise :class:`InvalidCommandError` with the reply."""
    if len(raw) > max_bytes:
        raise _invalid(treadmill_id, None, f"payload is {len(raw)} bytes; the limit is {max_bytes}")
    if not raw:
        raise _invalid(treadmill_id, None, "payload is empty")
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _invalid(treadmill_id, None, f"payload is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise _invalid(treadmill_id, None, "payload must be a JSON object")
    command_id = _well_formed_id(document)
    try:
        # Strict models in JSON mode: "1" is not 1 and 1 is not true, but ISO dates parse from strings.
        return COMMAND_ADAPTER.validate_json(raw)
    except ValidationError as exc:
        raise _invalid(treadmill_id, command_id, "payload failed validation", errors=_issues(exc)) from None


def readable_command_id(raw: bytes) -> str | None:
    """The command_id of a payload that may be refused whole (retained, say), when it is well formed."""
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return _well_formed_id(document) if isinstance(document, dict) else None


def _well_formed_id(document: dict[str, Any]) -> str | None:
    # Echo the id only when it is well formed; echoing garbage would put it in reply topics and logs.
    raw_id = document.get("command_id")
    return raw_id if isinstance(raw_id, str) and _valid_command_id(raw_id) else None


_COMMAND_ID_ADAPTER: TypeAdapter[str] = TypeAdapter(CommandId)


def _valid_command_id(value: str) -> bool:
    try:
        _COMMAND_ID_ADAPTER.validate_python(value)
    except ValidationError:
        return False
    return True
