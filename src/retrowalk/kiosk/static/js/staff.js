// The staff overview: every treadmill on the site with its phase, speed and alarms, live. The staff
// password is exchanged once for a session cookie (POST /staff/login); the stream then carries the
// whole fleet: a snapshot of every treadmill, then {treadmill_id, data} per message.
import { LiveStream, postJson } from "./api.js";
import { ALARMS, kmh, phaseWords } from "./words.js";

const $ = (id) => document.getElementById(id);
const fleet = new Map(); // treadmill_id -> {label, availability, state, telemetry, alarms: Set}
const SESSION_PHASES = new Set(["armed", "familiarise", "ramp", "steady", "cool_down", "paused"]);

function alarmWords(row) {
  const availability = row.availability ?? {};
  const words = [];
  if (availability.broker !== "connected") words.push("Kiosk cannot reach the broker");
  else if (availability.service !== "online") words.push("Service offline");
  else if (availability.treadmill !== "online") words.push("Treadmill not connected");
  for (const kind of row.alarms) words.push(ALARMS[kind]?.title ?? kind);
  return words.join(", ");
}

function render() {
  const items = [...fleet.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([treadmillId, row]) => {
      const item = document.createElement("li");
      const alarm = alarmWords(row);
      item.dataset.alarm = String(Boolean(alarm));
      const title = Object.assign(document.createElement("h3"), { textContent: row.label || treadmillId });
      const phase = Object.assign(document.createElement("p"), { textContent: phaseWords(row.state?.phase ?? "unknown") });
      const walking = row.state && SESSION_PHASES.has(row.state.phase);
      const speed = Object.assign(document.createElement("p"), {
        className: "tm-speed",
        textContent: walking ? `${kmh(row.telemetry?.speed_kmh)} of ${kmh(row.telemetry?.allowed_speed_kmh)} km/h` : "",
      });
      const user = Object.assign(document.createElement("p"), { textContent: walking ? `Walking: ${row.state.user_id}` : "" });
      const alarmLine = Object.assign(document.createElement("p"), { className: "tm-alarm", textContent: alarm });
      item.append(title, phase, speed, user, alarmLine);
      return item;
    });
  $("fleet").replaceChildren(...items);
}

function fromSnapshot(snapshot) {
  const row = { label: snapshot.label, availability: snapshot.availability, state: snapshot.state, telemetry: snapshot.telemetry, alarms: new Set() };
  for (const event of snapshot.events ?? []) applyEvent(row, event);
  return row;
}

function applyEvent(row, event) {
  if (event.kind === "session_started") row.alarms.clear();
  if (event.kind in ALARMS) row.alarms.add(event.kind);
}

function onMessage(kind, message) {
  if (kind === "snapshot") {
    fleet.clear();
    for (const snapshot of message.treadmills ?? []) fleet.set(snapshot.treadmill_id, fromSnapshot(snapshot));
  } else {
    const row = fleet.get(message?.treadmill_id);
    if (!row) return;
    if (kind === "availability") row.availability = message.data;
    if (kind === "state") row.state = message.data;
    if (kind === "telemetry") row.telemetry = message.data;
    if (kind === "event") applyEvent(row, message.data);
  }
  render();
}

function onLink(link, why) {
  const banner = $("connection");
  banner.dataset.state = link;
  banner.textContent = link === "live" ? "Live" : link === "denied" ? `Not allowed: ${why}` : "Connection lost: reconnecting…";
}

$("staff-sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const reply = await postJson("/staff/login", { password: $("password").value });
  const message = $("command-message");
  if (reply.status !== "accepted") {
    message.textContent = `Not signed in: ${reply.reason ?? reply.status}`;
    message.hidden = false;
    return;
  }
  message.hidden = true;
  $("password").value = "";
  $("staff-sign-in").hidden = true;
  $("staff-fleet").hidden = false;
  new LiveStream("/staff/events", { onMessage, onLink }).start();
});
