"""The kiosk's HTTP side (aiohttp): pages, Server-Sent Events and commands, as docs/kiosk-api.md says.

Every handler checks in the same order: known treadmill (404), screen token or staff session (401),
then for POSTs the cross-site rules and the body (415/403/413/400), and only then sends anything to the
service. A refused request changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import TypeAdapter, ValidationError

from retrowalk.kiosk.access import (
    STAFF_COOKIE,
    Access,
    json_body,
    kiosk_cookie,
    member_cookie,
    refuse,
)
from retrowalk.kiosk.broker_link import BrokerUnavailableError, KioskBroker, NoReplyError
from retrowalk.kiosk.mirror import STREAM_END, Listener, Mirror, PageMessage
from retrowalk.kiosk.settings import KioskSettings
from retrowalk.mqtt.commands import COMMAND_ADAPTER
from retrowalk.mqtt.payloads import UserId
from retrowalk.validation_text import problem_message

__all__ = ["HEARTBEAT_S", "HTTP_STATUS_OF_REPLY", "MEMBER_COMMANDS", "RETRY_MS", "STATIC_DIR", "KioskWeb"]

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
# A page that hears nothing for 3 s says it lost the kiosk; one heartbeat a second leaves room for two
# to be late.
HEARTBEAT_S = 1.0
# EventSource's reconnect delay, sent to every page.
RETRY_MS = 1000
# Commands that act for a person or read their data: they need a member signed in on the page, and
# only that member (members see only their own data).
MEMBER_COMMANDS = frozenset({"start", "pain_report", "screening", "member"})
# The service's reply status -> the HTTP status the page gets (docs/kiosk-api.md#commands).
HTTP_STATUS_OF_REPLY = {"accepted": 200, "refused": 409, "invalid": 422, "error": 502}

_USER_ID_ADAPTER: TypeAdapter[str] = TypeAdapter(UserId)


class KioskWeb:
    def __init__(self, settings: KioskSettings, mirror: Mirror, broker: KioskBroker) -> None:
        self._settings = settings
        self._mirror = mirror
        self._broker = broker
        self.access = Access(settings)
        self._closing = asyncio.Event()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024)
        app.add_routes(
            [
                web.get("/", self.index),
                web.get("/healthz", self.health),
                web.get("/t/{treadmill}", self.treadmill_page),
                web.get("/t/{treadmill}/events", self.treadmill_events),
                web.post("/t/{treadmill}/command", self.treadmill_command),
                web.post("/t/{treadmill}/sign-in", self.sign_in),
                web.post("/t/{treadmill}/sign-out", self.sign_out),
                web.get("/t/{treadmill}/member", self.member),
                web.get("/staff", self.staff_page),
                web.post("/staff/login", self.staff_login),
                web.post("/staff/logout", self.staff_logout),
                web.get("/staff/events", self.staff_events),
                web.post("/staff/t/{treadmill}/command", self.staff_command),
            ]
        )
        if STATIC_DIR.is_dir():
            app.router.add_static("/static/", STATIC_DIR, follow_symlinks=False)
        app.middlewares.append(_json_not_found)
        app.on_shutdown.append(self._close_streams)
        return app

    async def _close_streams(self, _app: web.Application) -> None:
        self._closing.set()
        self._mirror.end_streams()

    # -- pages -------------------------------------------------------------------------------------------

    async def index(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {"kiosk": "retrowalk", "pages": ["/t/<treadmill id>?token=<token>", "/staff"]}
        )

    async def health(self, _request: web.Request) -> web.Response:
        connected = self._mirror.broker_connected
        return web.json_response(
            {"ok": connected, "broker": "connected" if connected else "disconnected"},
            status=200 if connected else 503,
        )

    async def treadmill_page(self, request: web.Request) -> web.StreamResponse:
        treadmill_id = self._known_treadmill(request)
        offered = request.query.get("token")
        if offered is not None:
            if not self.access.token_ok(treadmill_id, offered):
                refuse(401, "unauthorized", f"wrong token for treadmill {treadmill_id!r}")
            # Kept in a cookie, then out of the address bar and the browser history.
            response = web.HTTPSeeOther(f"/t/{treadmill_id}")
            response.set_cookie(
                kiosk_cookie(treadmill_id),
                offered,
                **self.access.cookie_options(
                    request, f"/t/{treadmill_id}", self._settings.http.cookie_days * 86400
                ),
            )
            log.info("kiosk: a screen was set up with its token", extra={"treadmill": treadmill_id})
            raise response
        self._require_screen(request, treadmill_id)
        return _static_page("treadmill.html")

    async def staff_page(self, _request: web.Request) -> web.StreamResponse:
        return _static_page("staff.html")

    # -- live data ---------------------------------------------------------------------------------------

    async def treadmill_events(self, request: web.Request) -> web.StreamResponse:
        treadmill_id = self._known_treadmill(request)
        self._require_screen(request, treadmill_id)
        member = self.access.member(request, treadmill_id)
        listener, snapshot = self._mirror.listen(treadmill_id)
        snapshot["member"] = member
        return await self._stream(request, listener, snapshot)

    async def staff_events(self, request: web.Request) -> web.StreamResponse:
        self._require_staff(request)
        listener, snapshot = self._mirror.listen(None)
        return await self._stream(request, listener, snapshot)

    async def _stream(
        self, request: web.Request, listener: Listener, snapshot: dict[str, Any]
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-store",
                # A reverse proxy must pass each event at once, not buffer the stream.
                "X-Accel-Buffering": "no",
            }
        )
        try:
            await response.prepare(request)
            await response.write(f"retry: {RETRY_MS}\n\n".encode())
            await response.write(_sse(PageMessage("snapshot", json.dumps(snapshot))))
            await self._forward(response, listener)
        except ConnectionResetError:
            pass  # the page went away: nothing to tell anyone
        finally:
            self._mirror.stop_listening(listener)
        return response

    async def _forward(self, response: web.StreamResponse, listener: Listener) -> None:
        loop = asyncio.get_running_loop()
        next_heartbeat = loop.time() + HEARTBEAT_S
        while not listener.overflowed.is_set() and not self._closing.is_set():
            try:
                async with asyncio.timeout_at(next_heartbeat):
                    message = await listener.queue.get()
            except TimeoutError:
                now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
                message = PageMessage("heartbeat", json.dumps({"at": now}))
                next_heartbeat = loop.time() + HEARTBEAT_S
            if message is STREAM_END:
                return
            await response.write(_sse(message))

    # -- commands ----------------------------------------------------------------------------------------

    async def treadmill_command(self, request: web.Request) -> web.Response:
        treadmill_id = self._known_treadmill(request)
        self._require_screen(request, treadmill_id)
        self.access.check_post(request)
        body = await json_body(request)
        kind = body.get("type")
        if kind == "clearance":
            refuse(403, "forbidden", "clearances are recorded by staff, on the staff page")
        if kind in MEMBER_COMMANDS:
            member = self.access.member(request, treadmill_id)
            if member is None:
                refuse(409, "not_signed_in", f"sign in before a {kind} command")
            given = body.setdefault("user_id", member)
            if given != member:
                refuse(403, "forbidden", f"{member!r} is signed in here; a command for {given!r} is refused")
        return await self._send(treadmill_id, body, staff=False)

    async def staff_command(self, request: web.Request) -> web.Response:
        treadmill_id = self._known_treadmill(request)
        self._require_staff(request)
        self.access.check_post(request)
        body = await json_body(request)
        return await self._send(treadmill_id, body, staff=True)

    async def _send(self, treadmill_id: str, body: dict[str, Any], *, staff: bool) -> web.Response:
        try:
            command = COMMAND_ADAPTER.validate_json(json.dumps(body))
        except ValidationError as err:
            errors = [
                {"loc": ".".join(str(p) for p in e["loc"]), "msg": problem_message(e), "type": e["type"]}
                for e in err.errors(include_url=False, include_input=False)
            ]
            refuse(
                400, "malformed", "the command does not fit the API (docs/mqtt.md#commands)", errors=errors
            )
        try:
            reply = await self._broker.command(
                treadmill_id,
                command.model_dump(mode="json", exclude_unset=True),
                staff=staff,
                timeout_s=self._settings.http.reply_timeout_s,
            )
        except BrokerUnavailableError:
            refuse(503, "broker_unavailable", "the kiosk cannot reach the service now; nothing was sent")
        except NoReplyError:
            refuse(
                504,
                "no_reply",
                f"the service did not answer within {self._settings.http.reply_timeout_s:g} s; "
                "send the same command again (same command_id) to learn what happened",
            )
        log.info(
            "kiosk: %s command %s: %s%s",
            command.type,
            command.command_id,
            reply.status,
            f" ({reply.reason or reply.note})" if reply.reason or reply.note else "",
            extra={"treadmill": treadmill_id},
        )
        return web.json_response(
            reply.model_dump(mode="json"), status=HTTP_STATUS_OF_REPLY.get(reply.status, 502)
        )

    # -- members and staff -------------------------------------------------------------------------------

    async def sign_in(self, request: web.Request) -> web.Response:
        treadmill_id = self._known_treadmill(request)
        self._require_screen(request, treadmill_id)
        self.access.check_post(request)
        body = await json_body(request)
        if set(body) != {"user_id"}:
            refuse(400, "malformed", 'send exactly {"user_id": "<member id>"}')
        try:
            user_id = _USER_ID_ADAPTER.validate_python(body["user_id"], strict=True)
        except ValidationError as err:
            refuse(400, "malformed", f"user_id: {problem_message(err.errors()[0])}")
        self.access.end_session(request.cookies.get(member_cookie(treadmill_id)))
        session_id = self.access.sign_in(treadmill_id, user_id)
        response = web.json_response({"user_id": user_id})
        response.set_cookie(
            member_cookie(treadmill_id),
            session_id,
            **self.access.cookie_options(request, f"/t/{treadmill_id}", None),
        )
        log.info("kiosk: member %s signed in", user_id, extra={"treadmill": treadmill_id})
        return response

    async def member(self, request: web.Request) -> web.Response:
        """The signed-in member's screening status, next plan and history, from the service (MQTT
        `member` command): only their own."""
        treadmill_id = self._known_treadmill(request)
        self._require_screen(request, treadmill_id)
        member = self.access.member(request, treadmill_id)
        if member is None:
            refuse(409, "not_signed_in", "sign in to see your plan and your sessions")
        # A fresh id per look-up: the service stores every reply, and a repeated id would get old data.
        lookup = {"command_id": f"kiosk-member-{secrets.token_hex(8)}", "type": "member", "user_id": member}
        return await self._send(treadmill_id, lookup, staff=False)

    async def sign_out(self, request: web.Request) -> web.Response:
        treadmill_id = self._known_treadmill(request)
        self._require_screen(request, treadmill_id)
        self.access.check_post(request)
        self.access.end_session(request.cookies.get(member_cookie(treadmill_id)))
        response = web.json_response({"user_id": None})
        response.del_cookie(member_cookie(treadmill_id), path=f"/t/{treadmill_id}")
        return response

    async def staff_login(self, request: web.Request) -> web.Response:
        if not self.access.staff_enabled:
            refuse(404, "not_found", "staff pages are off: [staff] password_hash is not set")
        self.access.check_post(request)
        body = await json_body(request)
        password = body.get("password")
        if not isinstance(password, str) or set(body) != {"password"}:
            refuse(400, "malformed", 'send exactly {"password": "..."}')
        session_id = self.access.staff_login(password)
        if session_id is None:
            log.warning("kiosk: a staff login with a wrong password from %s", request.remote)
            refuse(401, "unauthorized", "wrong password")
        if self.access.is_staff(request):
            # Already signed in (the overview open in another tab, say): that session is kept, so that a
            # form that signs in for one action and out after it does not end it.
            self.access.end_session(session_id)
            return web.json_response({"staff": True, "signed_in_before": True})
        response = web.json_response({"staff": True, "signed_in_before": False})
        response.set_cookie(
            STAFF_COOKIE,
            session_id,
            **self.access.cookie_options(request, "/", self._settings.staff.session_hours * 3600),
        )
        return response

    async def staff_logout(self, request: web.Request) -> web.Response:
        self.access.check_post(request)
        self.access.end_session(request.cookies.get(STAFF_COOKIE))
        response = web.json_response({"staff": False})
        response.del_cookie(STAFF_COOKIE, path="/")
        return response

    # -- checks ------------------------------------------------------------------------------------------

    def _known_treadmill(self, request: web.Request) -> str:
        treadmill_id = request.match_info["treadmill"]
        if not self._mirror.knows(treadmill_id):
            refuse(404, "unknown_treadmill", f"there is no treadmill {treadmill_id!r} on this kiosk")
        return treadmill_id

    def _require_screen(self, request: web.Request, treadmill_id: str) -> None:
        if not self.access.screen_allowed(request, treadmill_id):
            refuse(
                401,
                "unauthorized",
                f"this screen has no valid token for treadmill {treadmill_id!r}: open "
                f"/t/{treadmill_id}?token=<its token> once (the kiosk config has it)",
            )

    def _require_staff(self, request: web.Request) -> None:
        if not self.access.is_staff(request):
            refuse(401, "unauthorized", "sign in as staff first (POST /staff/login)")


def _sse(message: PageMessage) -> bytes:
    # JSON text has no raw newlines, so one data line carries it.
    return f"event: {message.event}\ndata: {message.data}\n\n".encode()


def _static_page(name: str) -> web.StreamResponse:
    path = STATIC_DIR / name
    if not path.is_file():
        refuse(404, "not_found", f"the page {name} is not installed in this kiosk")
    return web.FileResponse(path, headers={"Cache-Control": "no-store"})


@web.middleware
async def _json_not_found(request: web.Request, handler: Any) -> web.StreamResponse:
    """aiohttp's own 404/405 pages are HTML; the contract promises JSON for every error."""
    try:
        response: web.StreamResponse = await handler(request)
    except web.HTTPNotFound as err:
        if err.content_type == "application/json":
            raise
        refuse(404, "not_found", f"nothing at {request.path}")
    except web.HTTPMethodNotAllowed as err:
        raise web.HTTPMethodNotAllowed(
            err.method,
            err.allowed_methods,
            text=json.dumps(
                {"error": "method_not_allowed", "message": f"{request.method} is not allowed here"}
            ),
            content_type="application/json",
        ) from None
    return response
