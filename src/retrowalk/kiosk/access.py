"""Who may do what on the kiosk: screen tokens, the staff login, signed-in members, and the checks
every POST passes before anything is sent (docs/kiosk-api.md#authentication).

Sessions (staff and members) are random ids held in this process's memory: a kiosk restart signs
everyone out, which is the safe way round for a screen in a public room.
"""

from __future__ import annotations

import functools
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, NoReturn

from aiohttp import web

from retrowalk.kiosk.passwords import verify_password
from retrowalk.kiosk.settings import KioskSettings

__all__ = ["MAX_BODY_BYTES", "STAFF_COOKIE", "Access", "json_body", "kiosk_cookie", "member_cookie", "refuse"]

MAX_BODY_BYTES = 16 * 1024


def kiosk_cookie(treadmill_id: str) -> str:
    return f"rw_kiosk_{treadmill_id}"


def member_cookie(treadmill_id: str) -> str:
    return f"rw_member_{treadmill_id}"


STAFF_COOKIE = "rw_staff"


def refuse(status: int, error: str, message: str, **extra: Any) -> NoReturn:
    """Stop handling a request with the kiosk's JSON error (docs/kiosk-api.md#errors)."""
    raise _json_error(status, error, message, **extra)


def _json_error(status: int, error: str, message: str, **extra: Any) -> web.HTTPError:
    return _error_class(status)(
        text=json.dumps({"error": error, "message": message, **extra}), content_type="application/json"
    )


@functools.cache
def _error_class(status: int) -> type[web.HTTPError]:
    # One plain class per status: some of aiohttp's own (413) want arguments the kiosk's errors do not have.
    return type(f"KioskHttpError{status}", (web.HTTPError,), {"status_code": status})


@dataclass
class _Session:
    subject: str  # the member's user id, or "staff"
    treadmill_id: str | None
    expires_at: float


class Access:
    def __init__(self, settings: KioskSettings) -> None:
        self._settings = settings
        self._sessions: dict[str, _Session] = {}

    # -- tokens and staff --------------------------------------------------------------------------------

    def token_ok(self, treadmill_id: str, offered: str | None) -> bool:
        treadmill = self._settings.treadmill(treadmill_id)
        if treadmill is None or not offered:
            return False
        return hmac.compare_digest(offered.encode(), treadmill.token.get_secret_value().encode())

    def screen_allowed(self, request: web.Request, treadmill_id: str) -> bool:
        """The screen's token (cookie or bearer header), or a staff session."""
        offered = request.cookies.get(kiosk_cookie(treadmill_id)) or _bearer(request)
        return self.token_ok(treadmill_id, offered) or self.is_staff(request)

    @property
    def staff_enabled(self) -> bool:
        return self._settings.staff.password_hash is not None

    def staff_login(self, password: str) -> str | None:
        stored = self._settings.staff.password_hash
        if stored is None or not verify_password(password, stored):
            return None
        return self._new_session("staff", None, self._settings.staff.session_hours * 3600)

    def is_staff(self, request: web.Request) -> bool:
        session = self._session(request.cookies.get(STAFF_COOKIE))
        return session is not None and session.subject == "staff"

    # -- members -----------------------------------------------------------------------------------------

    def sign_in(self, treadmill_id: str, user_id: str) -> str:
        return self._new_session(user_id, treadmill_id, self._member_idle_s)

    def member(self, request: web.Request, treadmill_id: str) -> str | None:
        """The member signed in on this page; each use keeps the sign-in alive for the idle time."""
        session_id = request.cookies.get(member_cookie(treadmill_id))
        session = self._session(session_id)
        if session is None or session.treadmill_id != treadmill_id or session.subject == "staff":
            return None
        session.expires_at = time.monotonic() + self._member_idle_s
        return session.subject

    def end_session(self, session_id: str | None) -> None:
        if session_id is not None:
            self._sessions.pop(session_id, None)

    @property
    def _member_idle_s(self) -> float:
        return self._settings.http.member_idle_minutes * 60

    def _new_session(self, subject: str, treadmill_id: str | None, lifetime_s: float) -> str:
        now = time.monotonic()
        for stale in [k for k, s in self._sessions.items() if s.expires_at <= now]:
            del self._sessions[stale]
        session_id = secrets.token_urlsafe(32)
        self._sessions[session_id] = _Session(subject, treadmill_id, now + lifetime_s)
        return session_id

    def _session(self, session_id: str | None) -> _Session | None:
        if session_id is None:
            return None
        session = self._sessions.get(session_id)
        if session is None or session.expires_at <= time.monotonic():
            self._sessions.pop(session_id, None)
            return None
        return session

    # -- every POST --------------------------------------------------------------------------------------

    def check_post(self, request: web.Request) -> None:
        """Cross-site protection: JSON only (a form cannot send it, a script needs a preflight nobody
        grants) and, when the browser names one, our own origin."""
        if request.content_type != "application/json":
            refuse(415, "unsupported_media_type", "send the body as JSON (Content-Type: application/json)")
        origin = request.headers.get("Origin")
        if origin is not None and origin != self.origin(request):
            refuse(403, "forbidden", f"requests from {origin} are not accepted by this kiosk")
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            refuse(413, "too_large", f"the body is over {MAX_BODY_BYTES} bytes")

    def origin(self, request: web.Request) -> str:
        return self._settings.http.public_origin or f"{request.scheme}://{request.host}"

    def cookie_options(self, request: web.Request, path: str, max_age_s: float | None) -> dict[str, Any]:
        options: dict[str, Any] = {
            "path": path,
            "httponly": True,
            "samesite": "Strict",
            "secure": request.secure or self.origin(request).startswith("https://"),
        }
        if max_age_s is not None:
            options["max_age"] = int(max_age_s)
        return options


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, or a 400/413 error; never more than MAX_BODY_BYTES read."""
    raw = await request.content.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        refuse(413, "too_large", f"the body is over {MAX_BODY_BYTES} bytes")
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        refuse(400, "malformed", f"the body is not JSON: {err}")
    if not isinstance(document, dict):
        refuse(400, "malformed", "the body must be a JSON object")
    return document


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None
