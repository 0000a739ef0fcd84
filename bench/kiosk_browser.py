"""The kiosk through a real browser: ``--pages`` treadmill pages open in Debian's chromium (Playwright), each
figure beside a bare peer measured in the same run (issue 15).

1. Telemetry to the DOM: `retrowalk kiosk` runs as its own process on a local mosquitto; the bench plays
   the service (retained state: a session in its ramp, so every page shows its live screen) and publishes
   telemetry at ``--rate`` Hz. Each sample's belt speed is its key (50 values in turn, so that two
   samples in a row never read the same); the publisher stamps the wall clock just before the publish. In
   every page a MutationObserver on the belt-speed element records ``performance.timeOrigin +
   performance.now()`` each time the page writes it: the sample's publish to the page's DOM update. Same
   machine, same clock; the offset between the page's clock and the bench's is measured per page (the
   evaluation with the shortest round trip of five) and taken off. Beside the kiosk's pages in the same
   run: ``--bare-pages`` minimal HTML pages (no kiosk page logic: an EventSource on the same stream that
   writes the speed into an element, observed the same way), and a bare MQTT subscriber (MQTT alone).
   Each page also stamps every telemetry event as it reaches it, so the figure splits into publish ->
   stream event and stream event -> DOM (the page's own work). The kiosk process's CPU over the phase
   (from /proc) per page message and per open page, and its resident memory with the pages open less
   without, are printed; beside them chromium's CPU and each kind of page's main-thread time per sample,
   split into script, layout and style, with the number of layouts and style recalculations, and the CPU
   time per sample of each page's main thread and renderer process (chromium's own counts, through the
   DevTools protocol).
2. Stop: treadsim behind its virtual adapter and the real service in this process, the kiosk and the
   same open pages in front. Each round starts a session (through the service's router) and waits for the
   belt to run; then, alternately, a real click on one page's Stop button (the pages take turns) and a
   Stop published straight on the command topic (the bare peer). Measured to treadsim's peripheral
   receiving the Stop write (FTMS op 0x08): from just before Playwright's click() and, in the page, from
   the pointerdown the click makes (Playwright's own checks before it dispatches are then left out).

Every page is in its own browser context (its own window: none is a background tab), and chromium runs
with background timer throttling and renderer backgrounding off; the bench prints how many pages said
they were visible. Goals (issue 15): telemetry p99 < 250 ms, Stop p99 < 300 ms. Figures are printed,
never asserted.

    .venv/bin/python bench/kiosk_browser.py --pages 20 --rate 1 --seconds 60 --stops 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt
from playwright.async_api import Browser, CDPSession, Page, async_playwright, expect

from kiosk import (
    PREFIX,
    SERVICE_ID,
    STOP_GOAL_MS,
    TELEMETRY_GOAL_MS,
    TOKEN,
    StopProbe,
    bare_peer,
    cpu_s,
    healthy,
    kiosk_process,
    poll,
    report,
    rss_bytes,
    served,
    start_walking,
    walking,
)

# The browser is launched as the kiosk's browser tests launch it (one place for chromium's path and flags).
from kiosk_screen import CHROMIUM_ARGS, CHROMIUM_MISSING, PORTRAIT, new_page, system_chromium
from retrowalk.kiosk.access import kiosk_cookie
from retrowalk.mqtt.payloads import PlanInfo, Telemetry, TreadmillState
from retrowalk.subprocesses import Mosquitto
from shared import add_kiosk_phase_options, log_findings_only
from treadsim.server import Simulator

TREADMILL = "tm0"
# Playwright passes these too; named here because the figures depend on them: no page is slowed down for
# being in the background.
UNTHROTTLED = [
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-renderer-backgrounding",
]
SPEED_KEYS = 50  # 1.0 to 5.9 km/h in turn
LAST_SPEED = 9.9  # the sample after the measured ones: every page showing it ends the phase
PLAN = PlanInfo(
    start_speed_kmh=1.0, max_speed_kmh=6.0, ramp_step_kmh=0.1, ramp_interval_s=30, duration_cap_s=3600
)
WALKING = TreadmillState(
    treadmill_id=TREADMILL, connected=True, phase="ramp", session_id="s-bench", user_id="bench", plan=PLAN
)
# In every page: each write of the speed element, with the page's wall clock; and each pointerdown.
OBSERVE = """() => {
  const speed = document.getElementById("belt-speed");
  window.rwBenchWrites = [];
  window.rwBenchTaps = [];
  new MutationObserver(() =>
    window.rwBenchWrites.push([speed.textContent, performance.timeOrigin + performance.now()]),
  ).observe(speed, { childList: true, characterData: true, subtree: true });
  document.addEventListener("pointerdown", () =>
    window.rwBenchTaps.push(performance.timeOrigin + performance.now()), { capture: true });
}"""
# Before any page script: every EventSource first stamps each telemetry event as it reaches the page
# (its listener is the first added, so it runs before the page's own); and the streams a page opens are
# counted (more than one: the page gave up on a silent stream and opened another, whose snapshot brings
# the latest sample, not those in between).
STREAM_EVENTS = """
window.rwBenchEvents = [];
window.rwBenchStreams = 0;
window.EventSource = class extends EventSource {
  constructor(...args) {
    super(...args);
    window.rwBenchStreams += 1;
    this.addEventListener("telemetry", (m) =>
      window.rwBenchEvents.push([JSON.parse(m.data).elapsed_s, performance.timeOrigin + performance.now()]));
  }
};"""
BARE_PATH = "/bench/bare-page"
# The bare peer in the browser: the kiosk's stream, the speed written into an element, nothing else.
BARE_PAGE = f"""<!doctype html><html lang="en"><title>bare peer</title>
<output id="belt-speed">-</output>
<script>
const speed = document.getElementById("belt-speed");
const source = new EventSource("/t/{TREADMILL}/events");
source.addEventListener("snapshot", () => (document.body.dataset.live = "yes"));
source.addEventListener("telemetry", (m) => (speed.textContent = JSON.parse(m.data).speed_kmh.toFixed(1)));
</script></html>"""

# Chromium's per-page counters (DevTools `Performance.getMetrics`): seconds of main-thread time in all
# the page's tasks, in script, in layout and in style recalculation, and how many layouts and style
# recalculations it did; and the CPU time of the page's main thread and of its whole renderer process.
# Counted by the renderer itself: the counts and CPU times do not depend on the machine's load, the
# durations (wall time in the task) far less than any latency does.
MAIN_THREAD_METRICS = (
    "TaskDuration",
    "ScriptDuration",
    "LayoutDuration",
    "RecalcStyleDuration",
    "LayoutCount",
    "RecalcStyleCount",
    "ThreadTime",
    "ProcessTime",
)


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def speed_of(seq: int) -> float:
    return 1.0 + (seq % SPEED_KEYS) / 10


def sample(seq: int, speed: float) -> str:
    elapsed = float(seq)  # the sequence number, as the bare MQTT peer reads it
    return Telemetry(
        treadmill_id=TREADMILL,
        phase="ramp",
        session_id="s-bench",
        speed_kmh=speed,
        allowed_speed_kmh=PLAN.max_speed_kmh,
        distance_m=elapsed,
        elapsed_s=elapsed,
        remaining_s=PLAN.duration_cap_s - elapsed,
    ).model_dump_json()


@dataclass
class OpenPage:
    page: Page
    name: str
    bare: bool
    # The page's wall clock less the bench's, in seconds, and how far off that may be (half the round trip).
    clock_offset_s: float = 0.0
    clock_uncertainty_s: float = 0.0
    errors: list[str] = field(default_factory=list)
    devtools: CDPSession | None = None

    async def main_thread(self) -> dict[str, float]:
        """Chromium's own counts of the page's main-thread work so far (MAIN_THREAD_METRICS)."""
        assert self.devtools is not None
        answer = await self.devtools.send("Performance.getMetrics")
        metrics = {metric["name"]: metric["value"] for metric in answer["metrics"]}
        return {name: metrics[name] for name in MAIN_THREAD_METRICS}

    async def measure_clock(self) -> None:
        best: tuple[float, float] | None = None
        for _ in range(5):
            before = time.time()
            page_ms: float = await self.page.evaluate("() => performance.timeOrigin + performance.now()")
            after = time.time()
            if best is None or after - before < best[1]:
                best = (page_ms / 1000 - (before + after) / 2, after - before)
        assert best is not None
        self.clock_offset_s, self.clock_uncertainty_s = best[0], best[1] / 2

    async def writes(self) -> list[tuple[str, float]]:
        """Each write of the speed element: (its text, the bench's wall clock)."""
        found: list[tuple[str, float]] = await self.page.evaluate("() => window.rwBenchWrites")
        return [(text, ms / 1000 - self.clock_offset_s) for text, ms in found]

    async def events(self) -> dict[int, float]:
        """When each sample's stream event reached the page (before the page's own listener ran)."""
        found: list[tuple[float, float]] = await self.page.evaluate("() => window.rwBenchEvents")
        return {int(elapsed): ms / 1000 - self.clock_offset_s for elapsed, ms in found}

    async def taps(self) -> list[float]:
        found: list[float] = await self.page.evaluate("() => window.rwBenchTaps")
        return [ms / 1000 - self.clock_offset_s for ms in found]


async def open_page(browser: Browser, base: str, name: str, *, bare: bool) -> OpenPage:
    errors: list[str] = []  # the page's uncaught errors: a page that stopped updating measures nothing
    opened = OpenPage(await new_page(browser, errors, PORTRAIT), name, bare, errors=errors)
    await opened.page.add_init_script(STREAM_EVENTS)
    context = opened.page.context
    if bare:
        await context.add_cookies([{"name": kiosk_cookie(TREADMILL), "value": TOKEN, "url": base}])
        await context.route(
            f"{base}{BARE_PATH}", lambda route: route.fulfill(body=BARE_PAGE, content_type="text/html")
        )
        await opened.page.goto(f"{base}{BARE_PATH}")
        await opened.page.locator("body[data-live]").wait_for(state="attached", timeout=30_000)
    else:
        await opened.page.goto(f"{base}/t/{TREADMILL}?token={TOKEN}")
        # The live screen: the retained state says a session is running.
        await expect(opened.page.locator("#belt-speed")).to_be_visible(timeout=30_000)
    await opened.page.evaluate(OBSERVE)
    await opened.measure_clock()
    opened.devtools = await context.new_cdp_session(opened.page)
    await opened.devtools.send("Performance.enable")
    return opened


@dataclass(frozen=True)
class Sent:
    """When a sample was published, on the wall clock (as the pages stamp) and the perf counter."""

    wall: float
    perf: float


def written(writes: list[tuple[str, float]], sent: dict[int, Sent], window_s: float) -> dict[int, float]:
    """When each sample was written into the element: for each in order, the first write of its speed
    after the previous sample's write. A sample not written within ``window_s`` (well before its speed
    comes round again) was not shown."""
    found: dict[int, float] = {}
    cursor = 0
    for seq, stamp in sorted(sent.items()):
        key = f"{speed_of(seq):.1f}"
        for index in range(cursor, len(writes)):
            text, written_at = writes[index]
            if written_at > stamp.wall + window_s:
                break
            if text == key:
                found[seq] = written_at
                cursor = index + 1
                break
    return found


async def publish_service(client: aiomqtt.Client) -> None:
    """What a `retrowalk serve` with a session on tm0 keeps on the broker."""
    await client.publish(f"{PREFIX}service/{SERVICE_ID}/availability", "online", qos=1, retain=True)
    await client.publish(f"{PREFIX}treadmill/{TREADMILL}/availability", "online", qos=1, retain=True)
    state = WALKING.model_dump_json()
    await client.publish(f"{PREFIX}treadmill/{TREADMILL}/state", state, qos=1, retain=True)


# ------------------------------------------------------------------------------------- 1. telemetry


@dataclass(frozen=True)
class Sizes:
    pages: int
    bare_pages: int
    rate: float
    seconds: float
    stops: int


@dataclass(frozen=True)
class KioskProcess:
    pid: int
    base: str


async def telemetry_to_dom(
    broker: Mosquitto, kiosk: KioskProcess, browser: Browser, sizes: Sizes
) -> list[OpenPage]:
    rss_without_pages = rss_bytes(kiosk.pid)
    async with aiomqtt.Client(broker.host, broker.port, identifier="bench-service") as publisher:
        await publish_service(publisher)
        opened: list[OpenPage] = []
        for number in range(sizes.pages + sizes.bare_pages):
            bare = number >= sizes.pages
            name = f"bare-{number - sizes.pages}" if bare else f"kiosk-{number}"
            opened.append(await open_page(browser, kiosk.base, name, bare=bare))
            progress(f"opened page {number + 1}/{sizes.pages + sizes.bare_pages} ({name})")
        visible = [await p.page.evaluate("() => document.visibilityState") for p in opened]
        mqtt_arrivals: dict[int, float] = {}
        mqtt_ready = asyncio.Event()
        async with asyncio.TaskGroup() as group:
            peer = group.create_task(bare_peer(broker, mqtt_arrivals, mqtt_ready), name="bare-mqtt-peer")
            await asyncio.wait_for(mqtt_ready.wait(), 30)
            cpu = Cpu(kiosk.pid)
            busy_before = [await page.main_thread() for page in opened]
            sent = await publish_samples(publisher, sizes)
            await all_show_last(opened)
            cpu.stop()
            busy_after = [await page.main_thread() for page in opened]
            peer.cancel()
    rss_with_pages = rss_bytes(kiosk.pid)
    print(
        f"browser: chromium, {sizes.pages} kiosk pages and {sizes.bare_pages} bare, each in its own context"
    )
    print(f"{'pages visible':>34}: {visible.count('visible')}/{len(visible)}")
    offsets = [page.clock_offset_s * 1000 for page in opened]
    print(
        f"{'page clock - bench clock':>34}: {min(offsets):.2f} to {max(offsets):.2f} ms, taken off "
        f"(each to within {max(p.clock_uncertainty_s for p in opened) * 1000:.2f} ms)"
    )
    print(f"telemetry: {len(sent)} samples at {sizes.rate:g} Hz, from the publish")
    report(
        "bare MQTT peer: -> message",
        [(mqtt_arrivals[s] - t.perf) * 1000 for s, t in sent.items() if s in mqtt_arrivals],
    )
    paths = {False: PagePaths(), True: PagePaths()}
    window_s = SPEED_KEYS / sizes.rate / 2
    for page, before, after in zip(opened, busy_before, busy_after, strict=True):
        await paths[page.bare].add(page, sent, window_s)
        paths[page.bare].add_main_thread(before, after)
    for bare, who, goal in ((True, "bare page", None), (False, "kiosk page", TELEMETRY_GOAL_MS)):
        report(f"{who}: -> stream event", paths[bare].event_ms)
        report(f"{who}: -> DOM update", paths[bare].dom_ms, goal)
        report(f"{who}: stream event -> DOM", paths[bare].logic_ms)
        print(f"{who + ': samples not shown':>34}: {paths[bare].lost}")
        print(f"{who + ': streams reconnected':>34}: {paths[bare].reconnects}")
        page_samples = len(sent) * max(1, paths[bare].pages)
        spent = {name: value / page_samples for name, value in paths[bare].main_thread.items()}
        print(
            f"{who + ': main thread':>34}: {spent['TaskDuration'] * 1e3:.1f} ms busy per sample "
            f"({spent['ScriptDuration'] * 1e3:.1f} ms script), its idle work included"
        )
        print(
            f"{who + ': layout and style':>34}: {spent['LayoutDuration'] * 1e3:.2f} ms layout "
            f"({spent['LayoutCount']:.2f} layouts), {spent['RecalcStyleDuration'] * 1e3:.2f} ms style "
            f"({spent['RecalcStyleCount']:.2f} recalculations) per sample"
        )
        print(
            f"{who + ': CPU':>34}: {spent['ThreadTime'] * 1e3:.2f} ms main thread, "
            f"{spent['ProcessTime'] * 1e3:.2f} ms renderer process per sample"
        )
    updates = len(sent) * len(opened)
    print(
        f"{'kiosk CPU':>34}: {cpu.kiosk_s:.2f} s over {cpu.wall_s:.0f} s, "
        f"{cpu.kiosk_s / updates * 1e6:.0f} µs per page message, "
        f"{cpu.kiosk_s / cpu.wall_s / len(opened) * 100:.3f} % of a core per open page at {sizes.rate:g} Hz"
    )
    print(
        f"{'kiosk memory':>34}: {rss_without_pages / 2**20:.1f} MiB without pages, "
        f"{rss_with_pages / 2**20:.1f} MiB with {len(opened)}: "
        f"{(rss_with_pages - rss_without_pages) / len(opened) / 1024:.0f} KiB per open page"
    )
    print(
        f"{'chromium CPU (all its processes)':>34}: {cpu.browser_s:.2f} s over {cpu.wall_s:.0f} s "
        f"({cpu.browser_s / cpu.wall_s * 100:.0f} % of a core), "
        f"{cpu.browser_s / updates * 1e3:.1f} ms per page update"
    )
    return opened


class Cpu:
    """CPU time (user + system, from /proc) of the kiosk process and of chromium's processes from now."""

    def __init__(self, kiosk_pid: int) -> None:
        self.kiosk_pid = kiosk_pid
        self._started = time.monotonic()
        self._kiosk = cpu_s(kiosk_pid)
        self._browser = self.browser_now()
        self.kiosk_s = self.browser_s = self.wall_s = 0.0

    @staticmethod
    def browser_now() -> float:
        """Chromium's processes are this process's descendants (through Playwright's driver)."""
        children: dict[int, list[int]] = {}
        names: dict[int, str] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError):  # a process that ended meanwhile
                name, rest = stat.read_text().rsplit(")", 1)
                pid = int(stat.parent.name)
                names[pid] = name.split("(", 1)[1]
                children.setdefault(int(rest.split()[1]), []).append(pid)
        total, todo = 0.0, list(children.get(os.getpid(), []))
        while todo:
            pid = todo.pop()
            todo.extend(children.get(pid, []))
            if names[pid].startswith("chrom"):
                with contextlib.suppress(OSError):
                    total += cpu_s(pid)
        return total

    def stop(self) -> None:
        self.wall_s = time.monotonic() - self._started
        self.kiosk_s = cpu_s(self.kiosk_pid) - self._kiosk
        self.browser_s = self.browser_now() - self._browser


@dataclass
class PagePaths:
    """Latencies (ms) of one kind of page, from each sample's publish."""

    event_ms: list[float] = field(default_factory=list)
    dom_ms: list[float] = field(default_factory=list)
    logic_ms: list[float] = field(default_factory=list)
    lost: int = 0
    reconnects: int = 0
    pages: int = 0
    # Each of MAIN_THREAD_METRICS over the phase, summed over the pages of this kind.
    main_thread: dict[str, float] = field(default_factory=lambda: dict.fromkeys(MAIN_THREAD_METRICS, 0.0))

    def add_main_thread(self, before: dict[str, float], after: dict[str, float]) -> None:
        self.pages += 1
        for name in MAIN_THREAD_METRICS:
            self.main_thread[name] += after[name] - before[name]

    async def add(self, page: OpenPage, sent: dict[int, Sent], window_s: float) -> None:
        self.reconnects += await page.page.evaluate("() => window.rwBenchStreams") - 1
        events = await page.events()
        writes = written(await page.writes(), sent, window_s)
        self.lost += len(sent) - len(writes)
        for seq, stamp in sent.items():
            if seq in events:
                self.event_ms.append((events[seq] - stamp.wall) * 1000)
            if seq in writes:
                self.dom_ms.append((writes[seq] - stamp.wall) * 1000)
            if seq in events and seq in writes:
                self.logic_ms.append((writes[seq] - events[seq]) * 1000)


async def publish_samples(publisher: aiomqtt.Client, sizes: Sizes) -> dict[int, Sent]:
    """The measured samples, each stamped (wall clock, perf counter) just before its publish; then the
    last one, until every page shows it."""
    topic = f"{PREFIX}treadmill/{TREADMILL}/telemetry"
    count = int(sizes.seconds * sizes.rate)
    sent: dict[int, Sent] = {}
    start = time.perf_counter()
    for seq in range(1, count + 1):
        await asyncio.sleep(max(0.0, start + seq / sizes.rate - time.perf_counter()))
        payload = sample(seq, speed_of(seq))
        sent[seq] = Sent(time.time(), time.perf_counter())
        await publisher.publish(topic, payload, qos=0)
        if seq % max(1, int(sizes.rate * 5)) == 0:
            progress(f"telemetry: {seq}/{count} samples published")
    await publisher.publish(topic, sample(count + 1, LAST_SPEED), qos=0)
    return sent


async def all_show_last(opened: list[OpenPage]) -> None:
    for page in opened:
        await page.page.wait_for_function(
            f"() => window.rwBenchWrites.some(([text]) => text === '{LAST_SPEED:.1f}')",
            polling=100,  # not every animation frame: the pages' main-thread time is being counted
            timeout=30_000,
        )


# ------------------------------------------------------------------------------------------ 2. stop


@dataclass
class StopFigures:
    click_ms: list[float] = field(default_factory=list)
    tap_ms: list[float] = field(default_factory=list)
    bare_ms: list[float] = field(default_factory=list)


async def tap_stop(page: OpenPage, probe: StopProbe, figures: StopFigures) -> None:
    """A real click on the page's Stop, once the page shows the session."""
    await expect(page.page.locator("#belt-speed")).to_be_visible(timeout=30_000)
    stop = page.page.get_by_role("button", name="Stop")
    await expect(stop).to_be_enabled()
    taps_before = len(await page.taps())
    probe.arm()
    clicked = time.perf_counter()
    await stop.click()
    await asyncio.wait_for(probe.stopped.wait(), 10)
    assert probe.stopped_at is not None
    stopped_wall = probe.stopped_at + (time.time() - time.perf_counter())
    figures.click_ms.append((probe.stopped_at - clicked) * 1000)
    taps = await page.taps()
    if len(taps) <= taps_before:
        raise RuntimeError(f"the click on {page.name}'s Stop made no pointerdown in the page")
    figures.tap_ms.append((stopped_wall - taps[taps_before]) * 1000)


async def stops(broker: Mosquitto, opened: list[OpenPage], rounds: int, workdir: Path) -> None:
    probe = StopProbe()
    figures = StopFigures()
    kiosk_pages = [page for page in opened if not page.bare]
    async with Simulator(treadmills=1) as sim:
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = sim.bus_address
        probe.install(sim)
        async with (
            served(sim, broker, workdir) as service,
            aiomqtt.Client(broker.host, broker.port, identifier="bench-bare-stopper") as bare,
        ):
            for round_number in range(rounds):
                await start_walking(service, sim, round_number)
                if round_number % 2 == 0:
                    page = kiosk_pages[round_number // 2 % len(kiosk_pages)]
                    await tap_stop(page, probe, figures)
                    what = f"a click on {page.name}'s Stop: {figures.click_ms[-1]:.0f} ms"
                else:
                    probe.arm()
                    stop = f'{{"command_id": "bare-stop-{round_number}", "type": "stop"}}'
                    sent = time.perf_counter()
                    await bare.publish(f"{PREFIX}treadmill/{TREADMILL}/command", stop, qos=1)
                    await asyncio.wait_for(probe.stopped.wait(), 10)
                    assert probe.stopped_at is not None
                    figures.bare_ms.append((probe.stopped_at - sent) * 1000)
                    what = f"a bare MQTT stop: {figures.bare_ms[-1]:.0f} ms"
                progress(f"stop round {round_number + 1}/{rounds}: {what}")
                await poll(lambda: not walking(service), 30, "the session's end")
    print(
        f"stop: {rounds} sessions started and stopped, alternately by a click on a page and a bare MQTT peer"
    )
    report("bare MQTT command -> stop write", figures.bare_ms)
    report("click() -> stop write", figures.click_ms, STOP_GOAL_MS)
    report("pointerdown in page -> stop write", figures.tap_ms, STOP_GOAL_MS)


# ------------------------------------------------------------------------------------------ entry


async def run(sizes: Sizes, chromium: str) -> None:
    with tempfile.TemporaryDirectory(prefix="rw-bench-kiosk-browser-") as directory:
        workdir = Path(directory)
        with Mosquitto(workdir / "broker") as broker, kiosk_process(broker, workdir) as (pid, base):
            await healthy(base)
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=chromium, args=[*CHROMIUM_ARGS, *UNTHROTTLED], headless=True
                )
                try:
                    opened = await telemetry_to_dom(broker, KioskProcess(pid, base), browser, sizes)
                    if sizes.stops:
                        await stops(broker, opened, sizes.stops, workdir)
                    errors = [f"{page.name}: {error}" for page in opened for error in page.errors]
                    print(f"{'errors in the pages':>34}: {len(errors)}")
                    for error in errors:
                        print(f"{'':>34}  {error}")
                finally:
                    await browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pages", type=int, default=20, help="kiosk pages open in chromium (at least 1)")
    parser.add_argument("--bare-pages", type=int, default=1, help="bare pages beside them (at least 1)")
    add_kiosk_phase_options(parser, seconds=60.0, rate=1.0)
    args = parser.parse_args()
    if args.pages < 1 or args.bare_pages < 1 or args.stops < 0 or args.seconds <= 0 or args.rate <= 0:
        parser.error("--pages and --bare-pages must be >= 1, --stops >= 0, --seconds and --rate > 0")
    chromium = system_chromium()
    if chromium is None:
        print(f"kiosk browser bench skipped: {CHROMIUM_MISSING}")
        return 0
    log_findings_only()
    sizes = Sizes(args.pages, args.bare_pages, args.rate, args.seconds, args.stops)
    asyncio.run(run(sizes, chromium))
    return 0


if __name__ == "__main__":
    sys.exit(main())
