// The page's only link to the kiosk process: a Server-Sent Events stream (a full snapshot on every
// (re)connect, then changes) and commands by POST, each with its own command_id. Everything that
// knows the kiosk's URLs lives here, so the screens deal only in state and replies.

// The kiosk sends something (data or a heartbeat) every second; this much silence means it is gone,
// and the page says so at that moment (the watchdog's timer is due then): well within 3 s.
export const SILENCE_LIMIT_MS = 2000;

export function treadmillIdFromPath(pathname = location.pathname) {
  const match = /^\/t\/([^/]+)\/?$/.exec(pathname);
  return match ? decodeURIComponent(match[1]) : null;
}

let commandCounter = 0;
export function newCommandId(prefix = "kiosk") {
  commandCounter += 1;
  const random = crypto.getRandomValues(new Uint32Array(2));
  return `${prefix}-${Date.now().toString(36)}-${random[0].toString(36)}${random[1].toString(36)}-${commandCounter}`;
}

// A live stream with reconnection. onMessage(kind, data) gets "snapshot" first after every
// (re)connect; onLink("live" | "connecting" | "lost", why) says whether the page can be trusted.
export class LiveStream {
  constructor(url, { onMessage, onLink }) {
    this.url = url;
    this.onMessage = onMessage;
    this.onLink = onLink;
    this.source = null;
    this.lastHeardAt = 0;
    this.hadSnapshot = false;
    this.watchdog = null;
    this.link = "connecting";
    this.stopped = false;
  }

  start() {
    this.connect();
    this.armWatchdog(SILENCE_LIMIT_MS);
  }

  // One timer, due when the silence would reach its limit if nothing more came. Messages only move
  // lastHeardAt on; the timer, finding the stream heard since, sets itself again for what is left. So
  // a live page wakes for it about once a second, not four times as a 250 ms poll did, and not once
  // per message as a timer re-set by each message would.
  armWatchdog(delayMs) {
    this.watchdog = setTimeout(() => this.checkSilence(), delayMs);
  }

  connect() {
    if (this.source) this.source.close();
    this.hadSnapshot = false;
    // A connection that brings no snapshot in time is as dead as a silent one (checkSilence).
    this.lastHeardAt = Date.now();
    if (this.link !== "lost") this.setLink("connecting", "connecting to the kiosk");
    const source = new EventSource(this.url);
    this.source = source;
    const listen = (kind) =>
      source.addEventListener(kind, (message) => {
        this.lastHeardAt = Date.now();
        let data = null;
        try {
          data = message.data ? JSON.parse(message.data) : null;
        } catch (error) {
          console.error(`unreadable ${kind} message from the kiosk`, error);
          return;
        }
        if (kind === "snapshot") {
          this.hadSnapshot = true;
          this.setLink("live", "");
        }
        if (kind !== "heartbeat" && this.hadSnapshot) this.onMessage(kind, data);
      });
    for (const kind of ["snapshot", "state", "telemetry", "event", "summary", "availability", "heartbeat"]) {
      listen(kind);
    }
    source.onerror = () => {
      if (this.stopped) return;
      this.setLink("lost", "this screen lost the kiosk");
      // EventSource gives up on an answer that is not a stream: ask why, and try again unless the
      // kiosk refused this screen (its token, or the treadmill, is not known), which retrying cannot fix.
      if (source.readyState === EventSource.CLOSED) this.whyClosed();
    };
  }

  async whyClosed() {
    const refusal = await refusalOf(this.url);
    if (refusal) {
      this.stopped = true;
      this.setLink("denied", refusal);
    } else {
      setTimeout(() => this.connect(), 1000);
    }
  }

  checkSilence() {
    if (this.stopped) return;
    const silentMs = Date.now() - this.lastHeardAt;
    if (silentMs >= SILENCE_LIMIT_MS) {
      this.setLink("lost", "this screen lost the kiosk");
      this.connect(); // hears from now on: the next limit is a whole one away
      this.armWatchdog(SILENCE_LIMIT_MS);
    } else {
      this.armWatchdog(SILENCE_LIMIT_MS - silentMs);
    }
  }

  setLink(link, why) {
    this.link = link;
    this.onLink(link, why);
  }
}

// The kiosk's own words when it refuses a request: {"error": ..., "message": ...}, with the fields it
// found wrong ("errors") when it checked a command against the API.
function refusalText(body, status) {
  const words = (body && (body.reason || body.message || body.error)) || `the kiosk answered ${status}`;
  return withFieldErrors(words, body?.errors);
}

// "cleared_by: String should have at most 100 characters (why)": which field and what is wrong with
// it come first, since that is what the person can fix. A location's first part is the command's type.
function withFieldErrors(words, errors) {
  if (!Array.isArray(errors) || errors.length === 0) return words;
  const problems = errors.map((error) => {
    const field = String(error.loc ?? "").split(".").slice(1).join(".") || String(error.loc ?? "");
    return field ? `${field}: ${error.msg}` : String(error.msg);
  });
  return `${problems.join("; ")} (${words})`;
}

// Why the service or the kiosk did not do a command, in words for the person.
export function replyReason(reply) {
  return withFieldErrors(reply.reason ?? reply.status, reply.errors);
}

// Whether the stream's URL is refused (401, 403, 404) and why; null when it is not (or unreachable).
async function refusalOf(url) {
  const controller = new AbortController();
  try {
    const response = await fetch(url, { credentials: "same-origin", signal: controller.signal });
    if (response.ok) return null;
    const body = await response.json().catch(() => null);
    return [401, 403, 404].includes(response.status) ? refusalText(body, response.status) : null;
  } catch (error) {
    return null;
  } finally {
    controller.abort();
  }
}

// POST one JSON body; resolves to the service's reply as the kiosk relays it (whatever its HTTP status),
// or to a reply-shaped failure ({status: "failed", reason}) that the screen shows like any refusal. A
// failure after which the command may still have reached the service (the kiosk's 504 `no_reply`, or
// no answer from the kiosk at all) says so with `unsettled: true`.
export async function postJson(url, body) {
  let response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch (error) {
    return { status: "failed", unsettled: true, reason: "the kiosk did not answer" };
  }
  const reply = await response.json().catch(() => null);
  if (reply && typeof reply === "object" && "status" in reply) return reply;
  if (response.ok) return { status: "accepted", ...(reply ?? {}) };
  return { status: "failed", unsettled: reply?.error === "no_reply", reason: refusalText(reply, response.status) };
}

// Commands, one command_id per intent (docs/kiosk-api.md). A command left unsettled (no answer in time:
// it may have reached the service) is sent again with the same body, the same id, when the person asks
// for the same thing again, so the service answers from its stored reply and never applies it twice.
// Anything else sent in between, or a new session, ends that: the next tap is a new intent.
export class CommandSender {
  constructor() {
    this.unsettled = null; // {key, body}: the last command sent, while its outcome is unknown
  }

  // `fresh`: always a new id and never kept (Stop: a stop applied twice changes nothing, and a
  // stored "accepted" must never answer for a belt started since).
  async send(url, fields, { prefix = "kiosk", fresh = false } = {}) {
    const key = JSON.stringify([url, fields]);
    const again = !fresh && this.unsettled?.key === key;
    const body = again ? this.unsettled.body : { command_id: newCommandId(prefix), ...fields };
    this.unsettled = null;
    const reply = await postJson(url, body);
    if (reply.unsettled && !fresh) this.unsettled = { key, body };
    return reply;
  }

  forget() {
    this.unsettled = null;
  }
}

// GET JSON; null when the kiosk does not have it (404), an Error with the kiosk's words otherwise.
export async function getJson(url) {
  const response = await fetch(url, { credentials: "same-origin" });
  const body = await response.json().catch(() => null);
  if (response.status === 404) return null;
  if (!response.ok) throw new Error(refusalText(body, response.status));
  return body;
}
