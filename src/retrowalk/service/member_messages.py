"""Sentences about a member's records that the service's router and the terminal commands both say, so
that a kiosk, Home Assistant and `retrowalk user` read the same words for the same case."""

from __future__ import annotations

from datetime import UTC, datetime

from retrowalk.storage import OpenSession

__all__ = ["nothing_to_clear", "running_refusal", "utc_minute"]


def utc_minute(moment: datetime) -> str:
    """A moment as `retrowalk user show` and `user history` write it: 2026-12-01 17:46 UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def running_refusal(running: OpenSession, when: str, session_option: str = "session_id") -> str:
    """Why an `after` or `next_morning` report naming no session is refused while the person walks;
    ``session_option`` is how the asker names a session (the API's field, the terminal's option). One
    sentence: it is read on a kiosk's line and a terminal's, by someone who has just walked."""
    return (
        f"nothing recorded: {running.user_id}'s session {running.session_id} on {running.treadmill_id}, "
        f"started {utc_minute(running.started_at)}, has not ended yet, so report the "
        f"{when.replace('_', '-')} pain once it has, or name an earlier session with {session_option}"
    )


def nothing_to_clear(user_id: str, *, answered: bool = True, cleared_before: datetime | None = None) -> str:
    """What a clearance that clears nothing is told, at the terminal and in the MQTT reply alike: why, as
    it is for this person (no answers yet; an earlier clearance, at ``cleared_before``, that cleared it
    all; or nothing ever to clear)."""
    if not answered:
        why = (
            "the screening questions are not answered yet and the pain rule has not sent them to a clinician"
        )
    elif cleared_before is not None:
        why = (
            f"the clearance of {utc_minute(cleared_before)} already cleared what there was, and no screening "
            "'yes' or referral by the pain rule has come since"
        )
    else:
        why = "no screening answer is 'yes' and the pain rule has not sent them to a clinician"
    return (
        f"nothing to clear for {user_id}: {why}, so this clearance changes nothing (a later 'yes' or "
        "referral needs a new one)"
    )
