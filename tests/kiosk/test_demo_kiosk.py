"""`retrowalk demo` starts the kiosk and prints its page's address: a browser-like client opened at that
address follows the demo's session live (a real demo process, its broker, service and treadsim)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys

import aiohttp
import pytest

from .kiosk_rig import sse

PAGE_LINE = re.compile(
    r"follow \(and stop\) the session in a browser: (http://127\.0\.0\.1:\d+)/t/demo\?token=(\S+)"
)


@pytest.mark.slow
@pytest.mark.dbus
@pytest.mark.mosquitto
@pytest.mark.timeout(90)
async def test_the_demo_prints_a_page_that_follows_its_session() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DBUS_SYSTEM_BUS_ADDRESS"}
    demo = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "retrowalk.cli", "demo", "--speedup", "15", "--plain",
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    try:
        assert demo.stdout is not None
        found = None
        while found is None:
            line = (await demo.stdout.readline()).decode()
            assert line, f"the demo ended without printing its page: {await demo.wait()}"
            found = PAGE_LINE.search(line)
        base, token = found.groups()
        async with (
            aiohttp.ClientSession(base_url=base, cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser,
        ):
            setup = await browser.get(f"/t/demo?token={token}", allow_redirects=False)
            assert setup.status == 303
            async with sse(browser, "/t/demo/events") as page:
                await page.until(lambda: page.of("snapshot"), "the snapshot", 10)
                await page.until(
                    lambda: any(t["speed_kmh"] > 0 for t in page.of("telemetry")), "the belt moving", 30
                )
                await page.until(lambda: page.of("summary"), "the summary", 40)
                # The page saw the end the demo printed (at 15x a loaded machine may end it on stale data).
                ended = [e["reason"] for e in page.of("event") if e["kind"] == "session_ended"]
                assert ended == [page.of("summary")[0]["end_reason"]]
        rest = (await demo.stdout.read()).decode()
        assert f"summary: {ended[0].replace('_', ' ')}" in rest or f"summary: {ended[0]}" in rest, rest
        await asyncio.wait_for(demo.wait(), 30)
    finally:
        if demo.returncode is None:
            demo.terminate()
            await demo.wait()
