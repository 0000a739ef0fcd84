// The page beside one treadmill (/t/<id>): which screen to show follows from the state the kiosk
// streams (the service's retained state, availability, telemetry, events) and from what the person
// has done on this page (signed in, answered, reported pain). The service decides everything that
// matters for safety; this page only asks and shows.
import { CommandSender, LiveStream, getJson, postJson, replyReason, treadmillIdFromPath } from "./api.js";
import { SpeedChart, drawHistoryChart } from "./charts.js";
import { ALARMS, cueAt, endReasonWords, kmh, minutesSeconds, planKmh, phaseWords } from "./words.js";
import { announce, beep } from "./sound.js";

// Phases in which retrowalk controls the belt for a session (the service's SESSION_PHASES).
const SESSION_PHASES = new Set(["armed", "familiarise", "ramp", "steady", "cool_down", "paused"]);
const NOTICE_SHOWN_MS = 8000;

const treadmillId = treadmillIdFromPath();
const base = `/t/${encodeURIComponent(treadmillId ?? "")}`;
const $ = (id) => document.getElementById(id);

// The live screen is rendered for every telemetry sample, mostly with the words and numbers it already
// shows: writing only what changed spares the browser restyling, re-laying-out and repainting the rest.
function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}
function setHidden(element, hidden) {
  if (element.hidden !== hidden) element.hidden = hidden;
}

const page = {
  link: "connecting", // the stream from the kiosk: live, connecting, lost, denied
  availability: null, // {service, treadmill, broker, usable}: usable only when all three are up
  treadmill: null, // the retained state: connected, phase, session_id, user_id, plan
  telemetry: null,
  // {user_id, screening: {status, reason}, next_plan, history}; screening status is "unknown" until
  // the service says (a refusal of Start names it), "needed", "answered", "see_clinician" or "cleared".
  member: null,
  painBefore: null,
  summary: null,
  painAfterSent: false,
  showHistory: false,
  alarms: [], // [{kind, detail}], the newest shown until acknowledged, then the one before
  // The session last seen running, kept while the truth is unknown (broker or kiosk away), so that
  // losing contact during a session raises an alarm instead of quietly showing "out of order".
  lastSession: null,
  rampStepAt: null, // elapsed seconds at which the allowed speed last changed
  knownSession: undefined, // the session_id of the last state known (null: none); undefined before one
};
const commands = new CommandSender();
const liveChart = new SpeedChart($("live-chart"));
const summaryChart = new SpeedChart($("summary-chart"));

function inSession() {
  return Boolean(page.treadmill && SESSION_PHASES.has(page.treadmill.phase));
}

// After every change: remember the running session, or forget it once the service says it is over;
// and when the truth is gone in the middle of one, say so.
const CONTACT_ALARMS = ["contact_lost", "kiosk_lost"];
function followSession() {
  if (inSession()) page.lastSession = page.treadmill.session_id;
  else if (page.treadmill) page.lastSession = null;
  const contact = page.availability?.broker === "connected" && page.treadmill !== null;
  if (page.lastSession && !contact) raiseAlarm("contact_lost");
  if (contact) page.alarms = page.alarms.filter((alarm) => alarm.kind !== "contact_lost");
}

// ---- screens --------------------------------------------------------------------------------------

function chooseScreen() {
  if (!treadmillId) return "out-of-order";
  if (inSession()) return "live";
  if (!page.availability?.usable) return "out-of-order";
  if (page.showHistory && page.member?.history) return "history";
  if (page.summary && page.member && page.summary.user_id === page.member.user_id) return "summary";
  if (!page.member) return "sign-in";
  const status = page.member.screening?.status;
  if (status === "needed") return "screening";
  if (status === "see_clinician") return "see-clinician";
  if (page.painBefore === null) return "pain-before";
  return "plan";
}

function render() {
  const screen = chooseScreen();
  document.body.classList.toggle("calm", !inSession() && !page.lastSession);
  for (const section of document.querySelectorAll("section.screen")) {
    setHidden(section, section.id !== `screen-${screen}`);
  }
  for (const button of document.querySelectorAll('[data-action="history"]')) setHidden(button, !page.member?.history);
  if (screen === "out-of-order") setText($("out-of-order-why"), outOfOrderWhy());
  if (screen === "see-clinician") setText($("see-clinician-why"), page.member.screening.reason ?? "");
  if (screen === "plan") {
    renderPlan($("plan-preview"), page.member.next_plan);
    $("plan-notes").textContent = page.member.plan_notes ?? "";
  }
  if (screen === "live") renderLive();
  if (screen === "summary") renderSummary();
  if (screen === "history") renderHistory();
  renderAlarm();
}

function outOfOrderWhy() {
  const availability = page.availability;
  if (!treadmillId) return "This address names no treadmill.";
  if (!availability) return "Waiting for the kiosk…";
  if (availability.broker !== "connected") return "The kiosk cannot reach the treadmill service.";
  if (availability.service !== "online") return "The treadmill service is offline.";
  return "The treadmill is not connected (switched off, out of range, or used by another app).";
}

function renderPlan(list, plan) {
  const rows = plan
    ? [
        ["Start speed", `${planKmh(plan.start_speed_kmh)} km/h`],
        ["Top speed", `${planKmh(plan.max_speed_kmh)} km/h`],
        ["Speeding up", `+${planKmh(plan.ramp_step_kmh)} km/h every ${plan.ramp_interval_s} s`],
        ["Longest walk", minutesSeconds(plan.duration_cap_s)],
        // A treadmill with coarse speed steps gets the plan fitted, never faster: say what changed.
        ...(plan.fitted_to_grid
          ? [[`Fitted to this treadmill's ${planKmh(plan.fitted_to_grid.speed_step_kmh)} km/h steps`,
              plan.fitted_to_grid.changes.join(" ")]]
          : []),
      ]
    : [["Plan", "the service plans it when you start"]];
  list.replaceChildren(
    ...rows.flatMap(([term, value]) => [
      Object.assign(document.createElement("dt"), { textContent: term }),
      Object.assign(document.createElement("dd"), { textContent: value }),
    ]),
  );
}

function nextStepSeconds(sample, plan) {
  if (!plan || !sample || sample.allowed_speed_kmh >= plan.max_speed_kmh - 1e-6) return null;
  if (sample.phase === "familiarise") return (plan.familiarisation_s ?? 60) - sample.elapsed_s;
  if (sample.phase !== "ramp" || page.rampStepAt === null) return null;
  return page.rampStepAt + plan.ramp_interval_s - sample.elapsed_s;
}

function renderLive() {
  const state = page.treadmill;
  const sample = page.telemetry;
  const plan = state.plan;
  // The belt speed first: it is what the person must see the moment it arrives.
  setText($("belt-speed"), kmh(sample?.speed_kmh));
  setText($("allowed-speed"), kmh(sample?.allowed_speed_kmh));
  setText($("phase"), phaseWords(sample?.phase ?? state.phase));
  setText($("time-left"), minutesSeconds(sample?.remaining_s));
  const toStep = nextStepSeconds(sample, plan);
  setHidden($("next-step-line"), toStep === null);
  setText($("next-step"), minutesSeconds(toStep));
  if (sample && sample.remaining_s != null) {
    const total = sample.elapsed_s + sample.remaining_s;
    // To a thousandth, under a pixel of the bar: an hour's session moves it every 3.6 s, not every
    // sample by a fraction of a pixel that still costs a repaint.
    const done = total > 0 ? Math.round((sample.elapsed_s / total) * 1000) / 1000 : 0;
    if ($("progress").value !== done) $("progress").value = done;
  }
  setText($("cue"), sample ? cueAt(sample.elapsed_s) : "");
  const paused = state.phase === "paused";
  setHidden(document.querySelector('[data-action="pause"]'), paused);
  setHidden(document.querySelector('[data-action="resume"]'), !paused);
}

function renderSummary() {
  const summary = page.summary;
  $("end-reason").textContent = endReasonWords(summary.end_reason, summary.detail);
  const rows = [
    ["Walked", minutesSeconds(summary.walked_s)],
    ["Distance", `${Math.round(summary.distance_m ?? 0)} m`],
    ["Top speed", `${kmh(summary.max_speed_kmh)} km/h`],
    ["Speed corrections", String(summary.overspeed_corrections ?? 0)],
  ];
  $("summary-figures").replaceChildren(
    ...rows.flatMap(([term, value]) => [
      Object.assign(document.createElement("dt"), { textContent: term }),
      Object.assign(document.createElement("dd"), { textContent: value }),
    ]),
  );
  $("pain-after-block").hidden = page.painAfterSent;
  const nextPlan = page.member?.next_plan;
  $("next-plan-block").hidden = !nextPlan;
  if (nextPlan) renderPlan($("next-plan"), nextPlan);
}

function renderHistory() {
  const sessions = page.member.history ?? [];
  const rows = sessions.map((s) => {
    const row = document.createElement("tr");
    for (const text of [
      new Date(s.started_at).toLocaleDateString(),
      minutesSeconds(s.walked_s),
      `${kmh(s.max_speed_kmh)} km/h`,
      endReasonWords(s.end_reason),
    ]) {
      row.append(Object.assign(document.createElement("td"), { textContent: text }));
    }
    return row;
  });
  $("history-table").tBodies[0].replaceChildren(...rows);
  drawHistoryChart($("history-chart"), sessions);
}

function renderAlarm() {
  const alarm = page.alarms[page.alarms.length - 1];
  setHidden($("alarm"), !alarm);
  if (!alarm) return;
  const words = ALARMS[alarm.kind];
  $("alarm-title").textContent = words.title;
  $("alarm-text").textContent = alarm.detail ? `${words.text} (${alarm.detail})` : words.text;
}

function raiseAlarm(kind, detail = "") {
  if (page.alarms.some((alarm) => alarm.kind === kind)) return;
  page.alarms.push({ kind, detail });
  beep(3);
  renderAlarm();
  document.querySelector('#alarm [data-action="acknowledge"]').focus();
}

function showNotice(text) {
  const notice = Object.assign(document.createElement("p"), { textContent: text });
  $("notices").append(notice);
  setTimeout(() => notice.remove(), NOTICE_SHOWN_MS);
}

function showCommandMessage(text) {
  const box = $("command-message");
  box.textContent = text;
  box.hidden = !text;
  // It sits above the screen: a form low on a long screen would otherwise hide the answer to its button.
  if (text) box.scrollIntoView({ block: "nearest" });
}

// ---- what the kiosk streams -----------------------------------------------------------------------

function applySnapshot(snapshot) {
  // The whole truth again (after a reconnect, a kiosk restart, a tablet waking up): nothing kept from
  // before can contradict it.
  const previousSession = page.treadmill?.session_id;
  setTreadmill(snapshot.state);
  page.telemetry = snapshot.telemetry ?? null;
  if (snapshot.state?.session_id !== previousSession) liveChart.reset();
  if (snapshot.label) $("treadmill-name").textContent = snapshot.label;
  if (snapshot.member && page.member?.user_id !== snapshot.member) loadMember(snapshot.member);
  if (!snapshot.member && page.member) forgetMember();
  if (snapshot.summary && snapshot.summary.session_id !== page.summary?.session_id && !inSession()) {
    page.summary = snapshot.summary;
  }
  applyAvailability(snapshot.availability);
}

// A command left without an answer belongs to the session it was sent in: once another session is on
// the treadmill, asking again is a new intent (a stored answer would not start or stop this one). A
// null state (the kiosk lost the broker) says nothing about sessions.
function setTreadmill(state) {
  if (state) {
    const session = state.session_id ?? null;
    if (session !== page.knownSession) commands.forget();
    page.knownSession = session;
  }
  page.treadmill = state;
}

function applyAvailability(availability) {
  const wentOffline = availability.service === "offline" && page.availability?.service !== "offline";
  page.availability = availability;
  if (wentOffline && (inSession() || page.lastSession)) raiseAlarm("service_offline");
}

function applyEvent(event) {
  switch (event.kind) {
    case "session_started":
      liveChart.reset();
      page.rampStepAt = null;
      page.summary = null;
      page.painAfterSent = false;
      break;
    case "overspeed_corrected":
      showNotice(
        `Speed corrected: the belt was above the allowed ${kmh(event.allowed_kmh)} km/h; set back to ${kmh(event.commanded_kmh)} km/h.`,
      );
      break;
    case "cap_warning": {
      const text = `${Math.round(event.remaining_s)} seconds left in this session.`;
      $("cap-warning").textContent = text;
      $("cap-warning").hidden = false;
      beep(2);
      announce(text);
      setTimeout(() => ($("cap-warning").hidden = true), NOTICE_SHOWN_MS);
      break;
    }
    case "stop_not_confirmed":
    case "safety_key":
    case "link_lost":
      raiseAlarm(event.kind, event.detail ?? "");
      break;
    default:
      break;
  }
}

function onMessage(kind, data) {
  if (kind === "snapshot") applySnapshot(data);
  if (kind === "state") setTreadmill(data);
  if (kind === "availability") applyAvailability(data);
  if (kind === "telemetry") {
    const previous = page.telemetry;
    if (previous && data.allowed_speed_kmh !== previous.allowed_speed_kmh) page.rampStepAt = data.elapsed_s;
    page.telemetry = data;
  }
  if (kind === "event") applyEvent(data);
  followSession();
  if (kind === "summary") {
    page.summary = data;
    summaryChart.copyFrom(liveChart);
    if (page.member && page.member.user_id === data.user_id) loadMember(data.user_id);
  }
  render();
  // The numbers are written; the chart keeps the sample and draws it after them (SpeedChart.add).
  if (kind === "telemetry" && SESSION_PHASES.has(data.phase)) liveChart.add(data);
}

function onLink(link, why) {
  const wasLive = page.link === "live";
  page.link = link;
  const banner = $("connection");
  banner.dataset.state = link;
  banner.textContent =
    link === "live" ? "Live" : link === "denied" ? `Not allowed: ${why}` : link === "lost" ? "Connection lost: reconnecting…" : "Connecting…";
  if (link === "lost" && wasLive && page.lastSession) raiseAlarm("kiosk_lost");
  if (link === "live") page.alarms = page.alarms.filter((alarm) => !CONTACT_ALARMS.includes(alarm.kind));
  renderAlarm();
}

// ---- what the person does -------------------------------------------------------------------------

async function send(type, fields = {}) {
  showCommandMessage("");
  const reply = await commands.send(`${base}/command`, { type, ...fields }, { fresh: type === "stop" });
  if (reply.status !== "accepted") showCommandMessage(notDone(type, reply));
  return reply;
}

// Why a command is not done, for the person; with no answer in time it may still happen, so say what
// asking again does.
function notDone(type, reply) {
  if (!reply.unsettled) return `Not done: ${replyReason(reply)}`;
  if (type === "stop") return "No answer from the treadmill service in time: press Stop again, or use the treadmill's own STOP key.";
  return "No answer from the treadmill service in time: it may still do it. Tap again to ask again (it will not be done twice).";
}

// What the service knows of the signed-in member (GET /t/<id>/member: screening, the plan a Start
// would get now and why, past sessions). Should the look-up fail, the page still works: it learns
// the screening from the service's answer to Start.
const SCREENING = { needed: "needed", see_clinician: "see_clinician", passed: "cleared" };
async function loadMember(userId) {
  let reply = null;
  try {
    reply = await getJson(`${base}/member`);
  } catch (error) {
    showCommandMessage(`Could not load your details: ${error.message}`);
  }
  const info = reply?.status === "accepted" ? reply.member : null;
  const known = page.member?.user_id === userId ? page.member : null;
  const notes = (info?.plan_notes ?? []).join(" ");
  page.member = {
    user_id: userId,
    screening: info ? { status: SCREENING[info.screening] ?? "unknown", reason: notes } : (known?.screening ?? { status: "unknown" }),
    next_plan: info?.next_plan ?? null,
    plan_notes: notes,
    history: info ? info.sessions : null,
  };
  render();
}

function forgetMember() {
  commands.forget();
  Object.assign(page, { member: null, painBefore: null, summary: null, painAfterSent: false, showHistory: false });
}

async function signIn(event) {
  event.preventDefault();
  const input = $("member-id");
  const userId = input.value.trim();
  if (!input.checkValidity() || !userId) {
    showCommandMessage("Please type your member id (at most 64 characters).");
    return;
  }
  const reply = await postJson(`${base}/sign-in`, { user_id: userId });
  if (reply.status !== "accepted") {
    showCommandMessage(`Could not sign in: ${reply.reason ?? reply.status}`);
    return;
  }
  showCommandMessage("");
  input.value = "";
  await loadMember(reply.user_id ?? userId);
}

async function signOut() {
  await postJson(`${base}/sign-out`, {});
  forgetMember();
  showCommandMessage("");
  render();
  $("member-id").focus();
}

// A refused Start says why in the service's words; two of its codes (docs/mqtt.md, refusal codes)
// send the person to a screen of its own.
function screeningFromRefusal(reply) {
  if (reply.code === "screening_needed") return { status: "needed" };
  if (reply.code === "see_clinician") return { status: "see_clinician", reason: reply.reason ?? "" };
  return null;
}

async function start() {
  const reply = await send("start", { user_id: page.member.user_id });
  const screening = reply.status === "refused" ? screeningFromRefusal(reply) : null;
  if (screening) {
    page.member.screening = screening;
    page.painBefore = null;
    showCommandMessage("");
    render();
  }
}

async function sendScreening(event) {
  event.preventDefault();
  const form = event.target;
  const age = $("age");
  // An age out of range (200, -3) is answered: say what the service takes (the input's bounds are the
  // API's), not that a question is missing.
  if (age.validity.rangeUnderflow || age.validity.rangeOverflow || age.validity.stepMismatch) {
    showCommandMessage(`Please give an age from ${age.min} to ${age.max}.`);
    return;
  }
  if (!form.checkValidity()) {
    showCommandMessage("Please answer every question.");
    return;
  }
  const data = new FormData(form);
  const answer = (name) => data.get(name) === "yes";
  const reply = await send("screening", {
    user_id: page.member.user_id,
    age: Number(data.get("age")),
    severe_knee_oa: answer("severe_knee_oa"),
    ligament_injury: answer("ligament_injury"),
    balance_disorder_or_dizziness: answer("balance_disorder_or_dizziness"),
    recent_knee_surgery: answer("recent_knee_surgery"),
  });
  if (reply.status !== "accepted") return;
  form.reset();
  page.member.screening = { status: "answered" };
  await loadMember(page.member.user_id);
}

// Staff record a clinician's clearance on this screen: their password opens a staff session, and the
// clearance goes to the staff command topic through it. A staff session this browser had already (the
// overview open in another tab) is kept: only one the form opened is closed after it.
async function sendClearance(event) {
  event.preventDefault();
  const form = event.target;
  const data = new FormData(form);
  const clearedBy = String(data.get("cleared_by") ?? "").trim();
  if (!form.checkValidity() || !clearedBy) {
    showCommandMessage("Please fill in who cleared this person, until when, and the staff password.");
    return;
  }
  const login = await postJson("/staff/login", { password: data.get("staff_password") });
  if (login.status !== "accepted") {
    showCommandMessage(`Not recorded: ${replyReason(login)}`);
    return;
  }
  const clearance = {
    type: "clearance",
    user_id: page.member.user_id,
    cleared_by: clearedBy,
    valid_until: data.get("valid_until"),
  };
  const reply = await commands.send(`/staff${base}/command`, clearance, { prefix: "staff" });
  if (!login.signed_in_before) await postJson("/staff/logout", {});
  if (reply.status !== "accepted") {
    showCommandMessage(reply.unsettled ? notDone("clearance", reply) : `Not recorded: ${replyReason(reply)}`);
    return;
  }
  form.reset();
  // A clearance with nothing to clear is kept but changes nothing: the service's note says so, and staff
  // must read it rather than believe they cleared someone (it stays until the next command).
  showCommandMessage(reply.note ? `Clearance recorded, but ${reply.note}` : "");
  page.member.screening = { status: "cleared" };
  await loadMember(page.member.user_id);
}

async function reportPain(when, pain) {
  const reply = await send("pain_report", { user_id: page.member?.user_id ?? page.treadmill?.user_id, when, pain });
  if (reply.status !== "accepted") return;
  if (when === "before") page.painBefore = pain;
  if (when === "during") $("pain-during").hidden = true;
  if (when === "after") page.painAfterSent = true;
  render();
}

const actions = {
  start,
  pause: () => send("pause"),
  resume: () => send("resume"),
  stop: () => send("stop"),
  "report-pain": () => ($("pain-during").hidden = !$("pain-during").hidden),
  "sign-out": signOut,
  history: () => {
    page.showHistory = true;
    render();
  },
  back: () => {
    page.showHistory = false;
    render();
  },
  acknowledge: () => {
    page.alarms.pop();
    render();
  },
};

function buildPainScales() {
  for (const scale of document.querySelectorAll(".pain-scale")) {
    const when = scale.dataset.when;
    for (let pain = 0; pain <= 10; pain += 1) {
      const button = Object.assign(document.createElement("button"), { type: "button", textContent: String(pain) });
      button.setAttribute("aria-label", `Pain ${pain} of 10`);
      button.addEventListener("click", () => reportPain(when, pain));
      scale.append(button);
    }
  }
}

function wireUp() {
  buildPainScales();
  $("sign-in-form").addEventListener("submit", signIn);
  $("screening-form").addEventListener("submit", sendScreening);
  $("clearance-form").addEventListener("submit", sendClearance);
  document.body.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button || !(button.dataset.action in actions)) return;
    // One tap, one command: a button stays disabled until the reply, so a double tap sends once. Not
    // Stop: it must work every time it is pressed, and a second stop changes nothing.
    const action = actions[button.dataset.action];
    if (button.dataset.action === "stop") {
      await action();
      return;
    }
    button.disabled = true;
    try {
      await action();
    } finally {
      button.disabled = false;
    }
  });
  if (treadmillId) document.title = `Treadmill ${treadmillId}`;
  $("treadmill-name").textContent = treadmillId ? `Treadmill ${treadmillId}` : "Unknown treadmill";
}

wireUp();
render();
if (treadmillId) {
  new LiveStream(`${base}/events`, { onMessage, onLink }).start();
}
