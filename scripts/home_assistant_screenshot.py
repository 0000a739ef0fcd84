"""Take docs/images/home-assistant-device.png again, with a real Home Assistant core and chromium.

The picture is the treadmill's device page during a first session, with a refused Start in *Last refusal*.

    scripts/dev ha-screenshot                       # builds what is missing, then runs this
    .venv/bin/python -m scripts.home_assistant_screenshot [--output FILE]   # RETROWALK_HA_PYTHON set

It starts what the real-Home-Assistant tests start, with their helpers (tests/homeassistant/
home_assistant.py): a mosquitto, `treadsim serve`, Home Assistant core from its own environment (onboarded,
the MQTT integration added through its config flow) and `retrowalk serve` with two walkers. Home Assistant
screens both, presses Start before a walker is chosen (refused: that is *Last refusal*), chooses one, sets
*Pain before* and presses Start; once the session is in its ramp, Debian's chromium (driven by Playwright,
as in the kiosk's browser tests) opens the device page logged in as Home Assistant's user and saves the
picture. Everything runs in a temporary directory, removed at the end, also after a failure or a Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import FloatRect, Page, sync_playwright
from tests.homeassistant.home_assistant import (
    COMMANDS,
    HomeAssistant,
    NoHomeAssistantError,
    configured_ha_python,
    is_number,
    value,
    wait_until,
    write_home_config,
)
from tests.service.harness import healthy_screening
from tests.service.served import reaped, retrowalk, treadsim_serving

from kiosk_screen import CHROMIUM_ARGS, CHROMIUM_MISSING, system_chromium
from retrowalk.errors import SetupError
from retrowalk.subprocesses import Mosquitto

ROOT = Path(__file__).resolve().parent.parent
PICTURE = ROOT / "docs" / "images" / "home-assistant-device.png"
# Wide enough for the device page's two columns of cards beside Home Assistant's sidebar (as a laptop
# shows it); the height is then fitted to the cards, and the page's empty right-hand side cut off, so the
# picture holds every control and sensor and little else.
PAGE_WIDTH = 1400
MARGIN = 24
WALKERS = ("me", "partner")
PHASE = "sensor.retrowalk_home_phase"
SPEED = "sensor.retrowalk_home_speed"
WALKER = "select.retrowalk_home_walker"
LAST_REFUSAL = "sensor.retrowalk_home_last_refusal"
START = "button.retrowalk_home_start"
# The device's id, from one of its entities (Home Assistant's REST API has no device list); as a JSON
# list, since the template API answers in plain text.
DEVICE_ID = f"{{{{ [device_id('{SPEED}')] | tojson }}}}"
# The figures the picture should show with a value, not "unknown", before it is taken.
IN_SESSION_FIGURES = (
    "sensor.retrowalk_home_elapsed",
    "sensor.retrowalk_home_remaining",
    "sensor.retrowalk_home_distance",
    "sensor.retrowalk_home_allowed_speed",
    "sensor.retrowalk_home_heart_rate",
)

_started = time.monotonic()


def say(step: str) -> None:
    print(f"[ha-screenshot {time.monotonic() - _started:5.0f} s] {step}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/dev ha-screenshot", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument(
        "--output", type=Path, default=PICTURE, help=f"where to save it (default {PICTURE.relative_to(ROOT)})"
    )
    args = parser.parse_args(argv)
    chromium = system_chromium()
    if chromium is None:
        print(CHROMIUM_MISSING, file=sys.stderr)
        return 1
    try:
        python = configured_ha_python()
        with tempfile.TemporaryDirectory(prefix="retrowalk-ha-screenshot-") as scratch:
            take_screenshot(python, chromium, Path(scratch), args.output)
    except KeyboardInterrupt:
        say("interrupted: everything started is stopped and the temporary directory removed")
        return 130
    except (NoHomeAssistantError, SetupError, TimeoutError, AssertionError, PlaywrightError) as failure:
        say(f"failed: {failure}")
        return 1
    say(f"saved {args.output}")
    return 0


def take_screenshot(python: Path, chromium: str, scratch: Path, output: Path) -> None:
    # The service's per-treadmill locks go in the scratch directory: treadsim's treadmill address is the
    # same for every simulator on this machine (a test run, another developer's).
    os.environ.pop("RUNTIME_DIRECTORY", None)
    os.environ["XDG_RUNTIME_DIR"] = str(scratch / "run")
    os.environ["RETROWALK_LOCK_DIR"] = str(scratch / "locks")
    (scratch / "locks").mkdir()
    ha = HomeAssistant(python, scratch / "home-assistant")
    with ExitStack() as running:
        say("starting mosquitto")
        broker = running.enter_context(Mosquitto(scratch / "broker", log_types=("all",)))
        say("starting treadsim serve (one simulated treadmill)")
        bus = running.enter_context(treadsim_serving())
        say("starting Home Assistant core (a minute or two; its log is in the temporary directory)")
        running.callback(ha.stop)
        ha.start()
        say("adding the MQTT integration through its config flow")
        ha.configure_mqtt(broker.port)
        say("starting retrowalk serve")
        config = write_home_config(scratch, broker.port, walkers=WALKERS)
        serve_log = running.enter_context((scratch / "retrowalk-serve.log").open("w"))
        scene = Scene(ha, Path(serve_log.name), broker)
        serve = running.enter_context(reaped(retrowalk(["serve", "--config", str(config)], bus, serve_log)))
        scene.wait_for("the treadmill idle in Home Assistant", lambda: value(ha, PHASE) == "idle")
        assert serve.poll() is None, f"retrowalk serve exited:\n{scene.explain()}"
        start_a_session_after_a_refusal(scene)
        say("opening the device page in chromium")
        with logged_in_page(ha, chromium) as page:
            device_id = ha.post("/api/template", {"template": DEVICE_ID})[0]
            page.goto(f"{ha.url}/config/devices/device/{device_id}")
            # The rows come first, their states a moment later over the frontend's websocket.
            page.get_by_text("start_walker: ").wait_for(timeout=60_000)
            output.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=output, clip=fitted_to_the_cards(page))
        say("stopping retrowalk serve, Home Assistant, treadsim and mosquitto")


@dataclass(frozen=True)
class Scene:
    """What the picture is taken of, and what to show when it does not come about."""

    ha: HomeAssistant
    serve_log: Path
    broker: Mosquitto

    def explain(self) -> str:
        said = self.serve_log.read_text(errors="replace")[-3000:]
        return f"{self.ha.diagnosis()}\nretrowalk serve said:\n{said}\ncommands:\n{self.commands_seen()}"

    def commands_seen(self) -> str:
        lines = self.broker.log().splitlines()
        return "\n".join([line for line in lines if "Received PUBLISH" in line and "/command" in line][-20:])

    def wait_for(self, what: str, check: Callable[[], Any], within_s: float = 60.0) -> Any:
        return wait_until(what, check, within_s, explain=self.explain)


def start_a_session_after_a_refusal(scene: Scene) -> None:
    ha, wait_for = scene.ha, scene.wait_for
    say(f"screening {' and '.join(WALKERS)} (published by Home Assistant, as an automation would)")
    # One after the other: each screening changes the device's discovery message, and when two changes
    # came within a moment Home Assistant was seen to drop the Walker select or a Start press.
    for screened, walker in enumerate(WALKERS, start=1):
        screening = {"command_id": f"screening-{walker}", **healthy_screening(walker)}
        ha.call("mqtt", "publish", topic=COMMANDS, payload=json.dumps(screening), qos=1)
        wait_for(f"{walker} in Walker", walker_offers(ha, WALKERS[:screened]))
    wait_for("the Start button", lambda: ha.state(START))
    wait_for("Walker showing nobody chosen", lambda: value(ha, WALKER) == "unknown")
    say("pressing Start before a walker is chosen (refused: Last refusal says why)")
    ha.call("button", "press", entity_id=START)
    wait_for("the refusal shown", lambda: (value(ha, LAST_REFUSAL) or "").startswith("start_walker: "))
    say(f"choosing {WALKERS[0]}, Pain before 2, Start")
    ha.call("select", "select_option", entity_id=WALKER, option=WALKERS[0])
    wait_for("the walker chosen", lambda: value(ha, WALKER) == WALKERS[0])
    ha.call("number", "set_value", entity_id="number.retrowalk_home_pain_before", value=2)
    wait_for("pain before kept", lambda: is_number(value(ha, "number.retrowalk_home_pain_before")))
    ha.call("button", "press", entity_id=START)
    wait_for("the belt moving", lambda: float(value(ha, SPEED) or 0) > 0)
    say("walking: waiting for the ramp after the minute at the start speed")
    wait_for("the ramp", lambda: value(ha, PHASE) == "ramp", within_s=180)
    wait_for("every figure of the session", lambda: all(is_number(value(ha, e)) for e in IN_SESSION_FIGURES))


def walker_offers(ha: HomeAssistant, walkers: tuple[str, ...]) -> Callable[[], bool]:
    """A check: Home Assistant's Walker select offers exactly these walkers."""

    def check() -> bool:
        state = ha.state(WALKER)
        return state is not None and state["attributes"].get("options") == list(walkers)

    return check


def fitted_to_the_cards(page: Page) -> FloatRect:
    """Make the window just tall enough for every card of the page (Home Assistant keeps its sidebar's
    foot at the window's bottom edge, so the window is resized rather than the picture cut short), and
    return the part to keep: from the top left corner to just right of and below the cards."""
    cards = [page.locator("ha-card").nth(i).bounding_box() for i in range(page.locator("ha-card").count())]
    shown = [card for card in cards if card is not None and card["width"] > 0]
    assert shown, "the device page shows no cards"
    bottom = math.ceil(max(card["y"] + card["height"] for card in shown)) + MARGIN
    right = math.ceil(max(card["x"] + card["width"] for card in shown)) + MARGIN
    page.set_viewport_size({"width": PAGE_WIDTH, "height": bottom})
    page.wait_for_function(f"() => window.innerHeight === {bottom}")
    return {"x": 0, "y": 0, "width": right, "height": bottom}


@contextmanager
def logged_in_page(ha: HomeAssistant, chromium: str) -> Iterator[Page]:
    """A chromium page that starts logged in as Home Assistant's user: the tokens of a fresh login are
    where Home Assistant's frontend keeps its own (``hassTokens`` in localStorage), so it skips the login
    form."""
    tokens = ha.log_in()
    hass_tokens = {
        **tokens,
        "hassUrl": ha.url,
        "clientId": f"{ha.url}/",
        "expires": int(time.time() * 1000) + int(tokens["expires_in"]) * 1000,
    }
    set_tokens = f"localStorage.setItem('hassTokens', {json.dumps(json.dumps(hass_tokens))});"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(
                viewport={"width": PAGE_WIDTH, "height": 1000},
                locale="en-US",
                timezone_id="UTC",
                color_scheme="light",
            )
            context.add_init_script(set_tokens)
            yield context.new_page()
        finally:
            browser.close()


if __name__ == "__main__":
    sys.exit(main())
