// Plain words for what the service publishes: the person beside the treadmill reads these, not codes.

export const PHASE_WORDS = {
  idle: "Ready",
  armed: "Starting the belt…",
  familiarise: "Getting used to the belt",
  ramp: "Speeding up slowly",
  steady: "Steady walking",
  cool_down: "Cooling down",
  paused: "Paused",
  finished: "Finished",
  aborted: "Stopped",
};

// Why a session ended, said so that the reader knows what to do next.
export const END_REASON_WORDS = {
  completed: "Well done: you walked the whole session.",
  kiosk_stop: "You stopped the session here.",
  user_stop_at_console: "The session was stopped at the treadmill.",
  safety_key: "The safety key was pulled. Put it back in before the next session.",
  belt_stopped_unexpectedly: "The belt stopped by itself. Please tell the staff.",
  belt_did_not_start: "The belt did not start. Check the safety key and the console.",
  start_not_confirmed: "The treadmill did not confirm the start. Check the safety key and the console.",
  overspeed_not_corrected: "The belt ran too fast and could not be slowed, so it was stopped. Please tell the staff.",
  belt_did_not_pause: "The belt did not pause, so it was stopped. Please tell the staff.",
  telemetry_stopped: "The treadmill stopped reporting, so the session was ended.",
  link_lost: "The connection to the treadmill was lost.",
  control_lost: "The treadmill took back control (another app may be using it).",
  machine_reset: "The treadmill restarted itself.",
  command_refused: "The treadmill refused a command (another app may be using it).",
  command_failed: "The treadmill did not carry out a command. Please tell the staff.",
  incline_changed_at_console: "The incline was changed at the treadmill, so the session was ended.",
  paused_too_long: "The session was paused for too long and has ended.",
  service_stopped: "The service was stopped; the belt was stopped first.",
  stopped_at_terminal: "The session was stopped by the staff.",
  service_restarted: "The service restarted during the session.",
  treadmill_fault: "The treadmill reported something impossible and was stopped. Please tell the staff.",
  pain_reported: "You reported pain, so the belt was stopped. Rest, and see a clinician if it persists.",
};

export function phaseWords(phase) {
  return PHASE_WORDS[phase] ?? String(phase ?? "");
}

export function endReasonWords(reason, detail) {
  const words = END_REASON_WORDS[reason] ?? `The session ended (${reason}).`;
  return detail ? `${words} (${detail})` : words;
}

// The seed article's safety advice, one at a time, the same rotation as the terminal demo.
export const CUES = [
  "Hold the handrails.",
  "Small, controlled steps.",
  "Engage your core.",
  "Keep your spine neutral.",
  "Go slow: the belt speeds up only gradually.",
];
export const CUE_EVERY_S = 30;

export function cueAt(elapsedS) {
  return CUES[Math.floor(Math.max(0, elapsedS) / CUE_EVERY_S) % CUES.length];
}

export function minutesSeconds(totalS) {
  if (totalS == null || !Number.isFinite(totalS)) return "–";
  const s = Math.max(0, Math.round(totalS));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

export function kmh(value) {
  return value == null || !Number.isFinite(value) ? "–" : value.toFixed(1);
}

// A plan's speed as it will be enforced: 0.96 on a treadmill with 0.32 km/h steps must not read "1.0".
export function planKmh(value) {
  if (value == null || !Number.isFinite(value)) return "–";
  const tenths = Math.round(value * 10) / 10;
  return Math.abs(value - tenths) < 0.005 ? tenths.toFixed(1) : value.toFixed(2);
}

// The alarms that take the whole screen, by the event kind that raises them (and three the page raises
// itself: the service, the kiosk's broker link or the kiosk itself lost during a session).
export const ALARMS = {
  stop_not_confirmed: {
    title: "Check the belt now",
    text: "The treadmill did not confirm that it stopped. Use its own STOP key or pull the safety key.",
  },
  safety_key: {
    title: "Safety key pulled",
    text: "The belt was stopped. Step off carefully, then put the safety key back in.",
  },
  link_lost: {
    title: "Connection to the treadmill lost",
    text: "The controller lost the treadmill: use its STOP key.",
  },
  service_offline: {
    title: "Service offline",
    text: "The service that controls this treadmill is not answering: use the treadmill's STOP key.",
  },
  contact_lost: {
    title: "Lost contact with the treadmill service",
    text: "This screen cannot tell what the treadmill is doing. The service still limits it; use the treadmill's STOP key if needed.",
  },
  kiosk_lost: {
    title: "This screen lost its connection",
    text: "This screen cannot reach the kiosk. The treadmill is still limited by the service; use its STOP key if needed.",
  },
};
