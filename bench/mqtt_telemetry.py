"""Telemetry through the MQTT bridge vs a bare aiomqtt publisher, 100 simulated treadmills at 1 Hz.

Both paths build the same Telemetry model and publish the same JSON to a real mosquitto, one after the
other in the same run; a subscriber in its own process measures latency (the payload's `at`, set just
before publishing, to its arrival; both on this machine's clock). CPU per message is this process's CPU
time (user + system) during a phase divided by the messages of that phase, so the subscriber's work is
not counted. Goals (issue 5): p99 < 50 ms; bridge CPU <= 1.5x the bare publisher.

    .venv/bin/python bench/mqtt_telemetry.py --treadmills 100 --seconds 20

A mosquitto is started on a free port (mosquitto must be installed) unless --port names a running broker.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

import aiomqtt

from retrowalk.mqtt import BrokerSettings, Command, MqttBridge
from retrowalk.mqtt.payloads import Telemetry
from retrowalk.storage import Store
from retrowalk.subprocesses import Mosquitto
from shared import percentile

DONE_TOPIC = "bench/done"


class _NoCommands:
    async def handle_command(self, treadmill_id: str, command: Command) -> None:
        return None


# -- subscriber (own process) --------------------------------------------------------------------------


async def _subscribe(port: int) -> None:
    latencies: dict[str, list[float]] = {}
    async with aiomqtt.Client("127.0.0.1", port, max_queued_incoming_messages=0) as client:
        await client.subscribe("bench/+/treadmill/+/telemetry", qos=0)
        await client.subscribe(DONE_TOPIC, qos=1)
        print("ready", flush=True)
        async for message in client.messages:
            arrived = time.time()
            if message.topic.value == DONE_TOPIC:
                break
            assert isinstance(message.payload, bytes)
            sent = datetime.fromisoformat(json.loads(message.payload)["at"]).timestamp()
            phase = message.topic.value.split("/")[1]
            latencies.setdefault(phase, []).append((arrived - sent) * 1000)
    print(json.dumps(latencies), flush=True)


# -- publishers ----------------------------------------------------------------------------------------


async def _drive(
    publish: Callable[[str, Telemetry], Awaitable[None] | None], treadmills: int, seconds: int
) -> int:
    """Each treadmill publishes once a second, spread evenly over the second, like independent belts."""
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.1
    count = 0
    for tick in range(seconds):
        for index in range(treadmills):
            delay = start + tick + index / treadmills - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            treadmill_id = f"tm{index:03d}"
            sample = Telemetry(
                treadmill_id=treadmill_id, phase="ramp", speed_kmh=1.0 + (tick % 10) / 10,
                allowed_speed_kmh=2.0, incline_pct=0.0, distance_m=tick * 0.4, elapsed_s=tick,
                remaining_s=max(0, 600 - tick), heart_rate_bpm=90,
            )  # fmt: skip
            result = publish(treadmill_id, sample)
            if result is not None:
                await result
            count += 1
    await asyncio.sleep(0.5)  # let the last messages leave before the CPU clock is read
    return count


async def _bare_phase(port: int, treadmills: int, seconds: int) -> tuple[int, float]:
    async with aiomqtt.Client("127.0.0.1", port, protocol=aiomqtt.ProtocolVersion.V5) as client:

        async def publish(treadmill_id: str, sample: Telemetry) -> None:
            topic = f"bench/bare/treadmill/{treadmill_id}/telemetry"
            await client.publish(topic, sample.model_dump_json().encode(), qos=0)

        cpu = time.process_time()
        count = await _drive(publish, treadmills, seconds)
        return count, time.process_time() - cpu


async def _bridge_phase(port: int, treadmills: int, seconds: int, db: Path) -> tuple[int, float]:
    settings = BrokerSettings(host="127.0.0.1", port=port, prefix="bench/bridge/", discovery=False)
    store = Store(db)
    bridge = MqttBridge(settings, store, _NoCommands(), service_id="bench")
    task = asyncio.create_task(bridge.run(), name="bench-bridge")
    try:
        await asyncio.wait_for(bridge.connected.wait(), 10)
        for index in range(treadmills):
            bridge.treadmill_online(f"tm{index:03d}", True)
        await asyncio.sleep(0.5)
        cpu = time.process_time()
        count = await _drive(bridge.publish_telemetry, treadmills, seconds)
        used = time.process_time() - cpu
        if bridge.status.telemetry_dropped:
            print(f"warning: the bridge dropped {bridge.status.telemetry_dropped} samples", file=sys.stderr)
        return count, used
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        store.close()


async def _run_phases(args: argparse.Namespace, port: int, workdir: Path) -> tuple[int, float, int, float]:
    bare_count, bare_cpu = await _bare_phase(port, args.treadmills, args.seconds)
    bridge_count, bridge_cpu = await _bridge_phase(
        port, args.treadmills, args.seconds, workdir / "bench.sqlite"
    )
    async with aiomqtt.Client("127.0.0.1", port) as client:
        await client.publish(DONE_TOPIC, b"", qos=1)
    return bare_count, bare_cpu, bridge_count, bridge_cpu


def _measure(args: argparse.Namespace, port: int, workdir: Path) -> int:
    subscriber = subprocess.Popen(
        [sys.executable, __file__, "--subscriber", "--port", str(port)], stdout=subprocess.PIPE, text=True
    )
    assert subscriber.stdout is not None
    if subscriber.stdout.readline().strip() != "ready":
        print("subscriber failed to start", file=sys.stderr)
        return 2
    bare_count, bare_cpu, bridge_count, bridge_cpu = asyncio.run(_run_phases(args, port, workdir))
    out, _ = subscriber.communicate(timeout=30)
    latencies: dict[str, list[float]] = json.loads(out.strip().splitlines()[-1])

    print(f"mqtt telemetry: {args.treadmills} treadmills at 1 Hz, {args.seconds} s per path, local mosquitto")
    rows = (("bare aiomqtt", bare_count, bare_cpu, latencies.get("bare", [])),
            ("retrowalk bridge", bridge_count, bridge_cpu, latencies.get("bridge", [])))  # fmt: skip
    for name, sent, cpu, lat in rows:
        if not lat:
            print(f"{name:>17}: sent {sent}, received 0")
            continue
        print(
            f"{name:>17}: sent {sent}, received {len(lat)}, latency p50 {statistics.median(lat):.2f} ms, "
            f"p99 {percentile(lat, 0.99):.2f} ms, max {max(lat):.2f} ms, CPU {cpu / sent * 1e6:.0f} µs/msg"
        )
    bridge_lat = latencies.get("bridge", [])
    ratio = (bridge_cpu / bridge_count) / (bare_cpu / bare_count)
    p99 = percentile(bridge_lat, 0.99) if bridge_lat else float("inf")
    print(f"bridge p99 {p99:.2f} ms (goal < 50 ms): {'met' if p99 < 50 else 'MISSED'}")
    print(f"bridge/bare CPU per message {ratio:.2f}x (goal <= 1.5x): {'met' if ratio <= 1.5 else 'MISSED'}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--treadmills", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--port", type=int, default=None, help="use a running broker on 127.0.0.1:PORT")
    parser.add_argument("--subscriber", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.subscriber:
        asyncio.run(_subscribe(args.port))
        return 0
    with tempfile.TemporaryDirectory(prefix="retrowalk-bench-") as tmp:
        workdir = Path(tmp)
        if args.port is not None:
            return _measure(args, args.port, workdir)
        with Mosquitto(workdir / "broker") as broker:
            return _measure(args, broker.port, workdir)


if __name__ == "__main__":
    sys.exit(main())
