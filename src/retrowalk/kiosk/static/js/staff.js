// The staff overview: every treadmill on the site with its phase, speed and alarms, live. The staff
// password is exchanged once for a session cookie; the stream then carries the whole fleet.
import { LiveStream, postJson } from "./api.js";
import { kmh, phaseWords } from "./words.js";

const $ = (id) => document.getElementById(id);
const fleet = new Map(); // treadmill_id -> its latest row

function alarmWords(row) {
  if (row.service_online === false) return "Service offline";
  if (!row.connected) return "Treadmill not connected";
  return (row.alarms ?? []).join(", ");
}

function render() {
  const items = [...fleet.values()]
    .sort((a, b) => a.treadmill_id.localeCompare(b.treadmill_id))
    .map((row) => {
      const item = document.createElement("li");
      const alarm = alarmWords(row);
      item.dataset.alarm = String(Boolean(alarm));
      item.setAttribute("aria-label", `Treadmill ${row.treadmill_id}`);
      const title = Object.assign(document.createElement("h3"), { textContent: row.label || row.treadmill_id });
      const phase = Object.assign(document.createElement("p"), { textContent: phaseWords(row.phase) });
      const speed = Object.assign(document.createElement("p"), {
        className: "tm-speed",
        textContent: `${kmh(row.speed_kmh)} / ${kmh(row.allowed_speed_kmh)} km/h`,
      });
      const user = Object.assign(document.createElement("p"), { textContent: row.user_id ? `Walking: ${row.user_id}` : "" });
      const alarmLine = Object.assign(document.createElement("p"), { className: "tm-alarm", textContent: alarm });
      item.append(title, phase, speed, user, alarmLine);
      return item;
    });
  $("fleet").replaceChildren(...items);
}

function onMessage(kind, data) {
  if (kind === "snapshot") {
    fleet.clear();
    for (const row of data.treadmills ?? []) fleet.set(row.treadmill_id, row);
  } else if (data && data.treadmill_id) {
    fleet.set(data.treadmill_id, { ...(fleet.get(data.treadmill_id) ?? {}), ...data });
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
  const password = $("password").value;
  const reply = await postJson("/staff/login", { password }, "");
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
