// Charts drawn with the vendored uPlot: the session's belt speed against the allowed speed (the
// envelope the service enforces), and a member's sessions over time.
import uPlot from "../vendor/uPlot.esm.js";

const AXIS = { stroke: "#ffffff", grid: { stroke: "#333333" }, ticks: { stroke: "#555555" } };

function sizeOf(element) {
  const width = Math.max(280, element.clientWidth || 600);
  return { width, height: Math.round(Math.min(320, Math.max(180, width * 0.3))) };
}

// A chart of the whole session gains well under a pixel a second once a few minutes are on it, and
// the big numbers show every sample at once: so it is redrawn at most this often, with every sample
// kept, and never in the frame that shows a new number.
export const CHART_REDRAW_MS = 5000;
// The longest an idle moment is waited for before the chart is drawn anyway (a busy page).
const IDLE_WAIT_MS = 1000;
// Safari has no requestIdleCallback: there the chart waits this long instead, past the frame that
// shows the numbers.
const NO_IDLE_WAIT_MS = 50;
const idle =
  typeof window.requestIdleCallback === "function"
    ? {
        request: (draw) => window.requestIdleCallback(draw, { timeout: IDLE_WAIT_MS }),
        cancel: (id) => window.cancelIdleCallback(id),
      }
    : { request: (draw) => setTimeout(draw, NO_IDLE_WAIT_MS), cancel: (id) => clearTimeout(id) };

// One session: x is the walked time in seconds; the allowed speed is drawn as a filled envelope so
// that a belt line above it stands out.
export class SpeedChart {
  constructor(element) {
    this.element = element;
    this.elapsed = [];
    this.belt = [];
    this.allowed = [];
    this.plot = null;
    this.drawnAt = -Infinity; // performance.now() of the last draw
    this.drawTimer = null; // a draw waiting for CHART_REDRAW_MS to pass
    this.drawIdle = null; // a draw waiting for an idle moment
  }

  ensurePlot() {
    if (this.plot) return;
    const options = {
      ...sizeOf(this.element),
      // The names and colours only: with no cursor there is no value to show beside them (uPlot's
      // "live" legend would rewrite its cells on every draw to say "--").
      legend: { show: true, live: false },
      cursor: { show: false },
      scales: { x: { time: false }, y: { range: (u, min, max) => [0, Math.max(2, Math.ceil(max + 0.5))] } },
      axes: [
        { ...AXIS, label: "minutes walked", values: (u, ticks) => ticks.map((s) => (s / 60).toFixed(1)) },
        { ...AXIS, label: "km/h" },
      ],
      series: [
        { label: "Minute", value: (u, s) => (s == null ? "–" : (s / 60).toFixed(1)) },
        { label: "Allowed", stroke: "#7fd4ff", fill: "rgba(127, 212, 255, 0.18)", width: 3, points: { show: false } },
        { label: "Belt", stroke: "#ffd84d", width: 4, points: { show: false } },
      ],
    };
    this.plot = new uPlot(options, [this.elapsed, this.allowed, this.belt], this.element);
    new ResizeObserver(() => this.plot.setSize(sizeOf(this.element))).observe(this.element);
  }

  reset() {
    this.elapsed.length = 0;
    this.belt.length = 0;
    this.allowed.length = 0;
    if (this.plot) this.drawNow();
  }

  // Keeps the sample and draws it soon (scheduleDraw): the caller shows its numbers first.
  add(sample) {
    this.ensurePlot();
    if (!this.keep(sample)) return;
    this.scheduleDraw();
  }

  keep(sample) {
    const last = this.elapsed[this.elapsed.length - 1];
    if (last !== undefined && sample.elapsed_s < last) return false; // out of order or a repeat: ignore
    this.elapsed.push(sample.elapsed_s);
    this.belt.push(sample.speed_kmh);
    this.allowed.push(sample.allowed_speed_kmh);
    return true;
  }

  // At most one draw per CHART_REDRAW_MS, in an idle moment after the frame that shows the sample's
  // numbers; samples that come meanwhile wait in the arrays and are all in the next draw.
  scheduleDraw() {
    if (this.drawTimer !== null || this.drawIdle !== null) return;
    const wait = this.drawnAt + CHART_REDRAW_MS - performance.now();
    const whenIdle = () => {
      this.drawTimer = null;
      this.drawIdle = idle.request(() => this.drawNow());
    };
    if (wait > 0) this.drawTimer = setTimeout(whenIdle, wait);
    else whenIdle();
  }

  drawNow() {
    if (this.drawTimer !== null) clearTimeout(this.drawTimer);
    if (this.drawIdle !== null) idle.cancel(this.drawIdle);
    this.drawTimer = this.drawIdle = null;
    this.drawnAt = performance.now();
    this.plot.setData([this.elapsed, this.allowed, this.belt]);
    // How many samples the chart shows, for whoever checks that none is left out (the browser tests).
    this.element.dataset.samplesDrawn = String(this.elapsed.length);
  }

  // The whole session at once (the summary): drawn now, it is the screen being shown.
  copyFrom(other) {
    this.reset();
    this.ensurePlot();
    other.elapsed.forEach((elapsed, i) =>
      this.keep({ elapsed_s: elapsed, speed_kmh: other.belt[i], allowed_speed_kmh: other.allowed[i] }),
    );
    this.drawNow();
  }
}

// A member's history: walked minutes and top speed per session, oldest first.
export function drawHistoryChart(element, sessions) {
  element.replaceChildren();
  const index = sessions.map((_, i) => i + 1);
  const minutes = sessions.map((s) => (s.walked_s ?? 0) / 60);
  const topSpeed = sessions.map((s) => s.max_speed_kmh ?? null);
  const options = {
    ...sizeOf(element),
    cursor: { show: false },
    scales: { x: { time: false }, min: { auto: true }, kmh: { auto: true } },
    axes: [
      { ...AXIS, label: "session" },
      { ...AXIS, scale: "min", label: "minutes walked" },
      { ...AXIS, scale: "kmh", side: 1, label: "top km/h", grid: { show: false } },
    ],
    series: [
      {},
      { label: "Minutes walked", scale: "min", stroke: "#8df08d", width: 3, points: { size: 10 } },
      { label: "Top speed", scale: "kmh", stroke: "#7fd4ff", width: 3, points: { size: 10 } },
    ],
  };
  return new uPlot(options, [index, minutes, topSpeed], element);
}
