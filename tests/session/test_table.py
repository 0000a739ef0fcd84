"""The transition table: legal pairs lead where the table says, every other pair is refused."""

from __future__ import annotations

import pytest

from retrowalk.errors import IllegalTransitionError
from retrowalk.session import table
from retrowalk.session.events import ACTIVE_PHASES, SESSION_PHASES, TERMINAL_PHASES, Phase
from retrowalk.session.table import TRANSITIONS, Trigger, next_phase

ALL_PAIRS = [(phase, trigger) for phase in Phase for trigger in Trigger]


@pytest.mark.parametrize(("phase", "trigger"), ALL_PAIRS)
def test_every_pair_is_either_in_the_table_or_refused(phase: Phase, trigger: Trigger) -> None:
    if (phase, trigger) in TRANSITIONS:
        assert next_phase(phase, trigger) is TRANSITIONS[phase, trigger]
    else:
        with pytest.raises(IllegalTransitionError, match=f"'{trigger.value}' is not allowed while"):
            next_phase(phase, trigger)


@pytest.mark.parametrize(
    ("phase", "trigger", "reason"),
    [
        (Phase.RAMP, Trigger.START, "'start' is not allowed while the session is 'ramp'; the commands that "
         "are: stop, pause"),
        (Phase.PAUSED, Trigger.PAUSE, "'pause' is not allowed while the session is 'paused'; the commands "
         "that are: stop, resume"),
        (Phase.FINISHED, Trigger.RESUME, "'resume' is not allowed while no session is running; the commands "
         "that are: start, stop"),
    ],
)  # fmt: skip
def test_a_refused_command_names_only_the_commands_a_kiosk_can_send(
    phase: Phase, trigger: Trigger, reason: str
) -> None:
    with pytest.raises(IllegalTransitionError) as refused:
        next_phase(phase, trigger)
    assert str(refused.value) == reason


def test_stop_is_legal_in_every_phase() -> None:
    for phase in Phase:
        target = next_phase(phase, Trigger.STOP)
        assert target in TERMINAL_PHASES or (phase not in SESSION_PHASES and target is phase)


def test_every_session_phase_can_fault_and_be_stopped_at_the_console() -> None:
    for phase in SESSION_PHASES:
        assert next_phase(phase, Trigger.FAULT) is Phase.ABORTED
        assert next_phase(phase, Trigger.CONSOLE_STOP) is Phase.FINISHED


def test_nothing_leaves_a_terminal_phase_but_a_new_start() -> None:
    for (phase, trigger), target in TRANSITIONS.items():
        if phase in TERMINAL_PHASES and target is not phase:
            assert trigger is Trigger.START
            assert target is Phase.ARMED


def test_a_belt_only_moves_again_after_a_person_asks() -> None:
    """No trigger the engine makes up by itself leads from paused or a terminal phase to a moving belt."""
    for (phase, trigger), target in TRANSITIONS.items():
        if phase in {Phase.PAUSED, *TERMINAL_PHASES} and (target in ACTIVE_PHASES or target is Phase.ARMED):
            assert trigger in {Trigger.RESUME, Trigger.START, Trigger.CONSOLE_START}, (phase, trigger)


def test_only_the_cap_leads_into_cool_down() -> None:
    into = {trigger for (phase, trigger), target in TRANSITIONS.items() if target is Phase.COOL_DOWN}
    assert into == {Trigger.CAP_REACHED}


# Every legal transition, written out as docs/safety.md's diagram draws it: "trigger>next phase".
EXPECTED = {
    "idle": "start>armed stop>idle",
    "finished": "start>armed stop>finished",
    "aborted": "start>armed stop>aborted",
    "armed": "stop>finished console_stop>finished fault>aborted belt_started>familiarise "
    "console_pause>finished",
    "familiarise": "stop>finished console_stop>finished fault>aborted hold_done>ramp target_reached>steady "
    "pause>paused console_pause>paused cap_reached>cool_down link_recovered>paused",
    "ramp": "stop>finished console_stop>finished fault>aborted target_reached>steady pause>paused "
    "console_pause>paused cap_reached>cool_down link_recovered>paused",
    "steady": "stop>finished console_stop>finished fault>aborted slowed_at_console>ramp pause>paused "
    "console_pause>paused cap_reached>cool_down link_recovered>paused",
    "cool_down": "stop>finished console_stop>finished fault>aborted cool_down_done>finished "
    "console_pause>finished link_recovered>aborted",
    "paused": "stop>finished console_stop>finished fault>aborted resume>armed console_start>familiarise "
    "link_recovered>paused",
}


def test_the_table_built_afresh_is_exactly_the_documented_one() -> None:
    # Built here rather than read from TRANSITIONS (built at import): a mistake in the builder must show.
    built = table._build()  # noqa: SLF001 the builder itself is under test, not its result at import
    expected = {
        (Phase(phase), Trigger(trigger)): Phase(target)
        for phase, pairs in EXPECTED.items()
        for trigger, target in (pair.split(">") for pair in pairs.split())
    }
    assert built == expected


def test_a_refusal_names_what_is_allowed_instead() -> None:
    with pytest.raises(IllegalTransitionError) as refused:
        next_phase(Phase.PAUSED, Trigger.PAUSE)
    assert str(refused.value) == (
        "'pause' is not allowed while the session is 'paused'; the commands that are: stop, resume"
    )


def test_the_engine_s_own_illegal_trigger_names_every_trigger_the_phase_takes() -> None:
    # Not a kiosk's command: the engine's own mistake, so the message lists the whole row of the table
    # (docs/safety.md's state diagram: paused leaves by resume, stop, the console, a fault, the link).
    with pytest.raises(IllegalTransitionError) as refused:
        next_phase(Phase.PAUSED, Trigger.HOLD_DONE)
    assert str(refused.value) == (
        "'hold_done' is not allowed while the session is 'paused' "
        "(allowed: console_start, console_stop, fault, link_recovered, resume, stop)"
    )
