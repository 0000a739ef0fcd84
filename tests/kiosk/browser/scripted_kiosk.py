"""A kiosk whose stream the test writes: the real pages and the real browser, fed messages the test
chooses, so each screen (every alarm, a refusal, a lost connection) can be reached on purpose, audited
and photographed. The whole journey through the real kiosk, service and treadsim is in
test_journey.py; this one isolates the page.

It speaks the page's side of the kiosk's contract: GET /t/<id> (the page), /static/... (the package's
files), GET /t/<id>/events (Server-Sent Events, a snapshot first), POST /t/<id>/command (answered with
the reply the test queued), GET /t/<id>/member/<user> (the member the test set).
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import retrowalk

STATIC = Path(retrowalk.__file__).parent / "kiosk" / "static"
TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
TOKEN = "tm1-token"
HEARTBEAT_S = 0.5


@dataclass
class ScriptedKiosk:
    snapshot: dict[str, Any]
    members: dict[str, dict[str, Any]] = field(default_factory=dict)
    replies: dict[str, dict[str, Any]] = field(default_factory=dict)  # by command type
    commands: list[dict[str, Any]] = field(default_factory=list)
    streams: list[queue.Queue[tuple[str, Any] | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # While False the stream sends nothing, heartbeats included: the kiosk process is "gone".
    alive: threading.Event = field(default_factory=threading.Event)

    def push(self, kind: str, data: Any) -> None:
        """Send one message to every open page."""
        with self.lock:
            for stream in self.streams:
                stream.put((kind, data))

    def go_silent(self) -> None:
        self.alive.clear()
        with self.lock:
            for stream in self.streams:
                stream.put(None)


def _handler(kiosk: ScriptedKiosk) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def send_body(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def send_json(self, status: int, body: Any) -> None:
            self.send_body(status, json.dumps(body).encode(), "application/json")

        def token_ok(self) -> bool:
            query = parse_qs(urlsplit(self.path).query)
            return self.headers.get("X-Kiosk-Token") == TOKEN or query.get("token") == [TOKEN]

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            parts = [unquote(p) for p in path.split("/") if p]
            if parts[:1] == ["static"]:
                file = (STATIC / "/".join(parts[1:])).resolve()
                if STATIC.resolve() not in file.parents or not file.is_file():
                    self.send_body(404, b"not found", "text/plain")
                    return
                self.send_body(200, file.read_bytes(), TYPES.get(file.suffix, "application/octet-stream"))
            elif len(parts) == 2 and parts[0] == "t":
                self.send_body(200, (STATIC / "treadmill.html").read_bytes(), "text/html")
            elif len(parts) == 3 and parts[2] == "events":
                self.stream()
            elif len(parts) == 4 and parts[2] == "member":
                member = kiosk.members.get(parts[3])
                if not self.token_ok():
                    self.send_json(403, {"reason": "wrong kiosk token"})
                elif member is None:
                    self.send_json(404, {"reason": f"no member '{parts[3]}'"})
                else:
                    self.send_json(200, member)
            else:
                self.send_body(404, b"not found", "text/plain")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            kiosk.commands.append(body)
            if not self.token_ok():
                self.send_json(403, {"status": "refused", "reason": "wrong kiosk token"})
                return
            reply = kiosk.replies.get(body.get("type", "clearance"), {"status": "accepted"})
            self.send_json(200, {"command_id": body.get("command_id"), **reply})

        def stream(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Connection", "close")  # the stream's end is the connection's end
            self.end_headers()
            if not self.token_ok():
                self.write_event("denied", "wrong kiosk token")
                return
            if not kiosk.alive.is_set():
                return
            messages: queue.Queue[tuple[str, Any] | None] = queue.Queue()
            with kiosk.lock:
                kiosk.streams.append(messages)
            try:
                self.write_event("snapshot", kiosk.snapshot)
                while True:
                    try:
                        message = messages.get(timeout=HEARTBEAT_S)
                    except queue.Empty:
                        message = ("heartbeat", {})
                    if message is None:
                        return
                    self.write_event(*message)
            except (BrokenPipeError, ConnectionResetError):
                return
            finally:
                with kiosk.lock:
                    kiosk.streams.remove(messages)

        def write_event(self, kind: str, data: Any) -> None:
            text = data if isinstance(data, str) else json.dumps(data)
            self.wfile.write(f"event: {kind}\ndata: {text}\n\n".encode())
            self.wfile.flush()

    return Handler


@contextlib.contextmanager
def scripted_kiosk(snapshot: dict[str, Any]) -> Iterator[tuple[ScriptedKiosk, str]]:
    """The kiosk and its base URL (http://127.0.0.1:<port>)."""
    kiosk = ScriptedKiosk(snapshot)
    kiosk.alive.set()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(kiosk))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="scripted-kiosk", daemon=True)
    thread.start()
    try:
        yield kiosk, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        kiosk.go_silent()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
