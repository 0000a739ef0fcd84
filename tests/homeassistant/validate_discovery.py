"""Run inside Home Assistant's own virtual environment (not retrowalk's): validates device-discovery
payloads with Home Assistant's schemas, the way its MQTT integration does when one arrives.

Reads a JSON list of payloads on stdin; prints one line per problem and exits 1 when there is any. A
component option that Home Assistant's schema drops silently (a misspelled or unsupported option) is a
problem too: Home Assistant would ignore it without a word.
"""

import asyncio
import importlib
import json
import sys
import tempfile
from typing import Any

# Home Assistant is installed only in its own environment, where this runs.
import voluptuous as vol  # type: ignore[import-not-found]
from homeassistant.components.mqtt.abbreviations import (  # type: ignore[import-not-found]
    ABBREVIATIONS,
    DEVICE_ABBREVIATIONS,
    ORIGIN_ABBREVIATIONS,
)
from homeassistant.components.mqtt.schemas import (  # type: ignore[import-not-found]
    DEVICE_DISCOVERY_SCHEMA,
    SHARED_OPTIONS,
)
from homeassistant.core import HomeAssistant  # type: ignore[import-not-found]
from homeassistant.helpers import frame  # type: ignore[import-not-found]


def _expanded(options: dict[str, Any], abbreviations: dict[str, str]) -> dict[str, Any]:
    return {abbreviations.get(key, key): value for key, value in options.items()}


def problems_of(payload: dict[str, Any]) -> list[str]:
    device = _expanded(payload, ABBREVIATIONS)
    device["device"] = _expanded(device["device"], DEVICE_ABBREVIATIONS)
    device["origin"] = _expanded(device["origin"], ORIGIN_ABBREVIATIONS)
    device["availability"] = [_expanded(a, ABBREVIATIONS) for a in device.get("availability", [])]
    device["components"] = {k: _expanded(c, ABBREVIATIONS) for k, c in device["components"].items()}
    try:
        DEVICE_DISCOVERY_SCHEMA(device)
    except vol.Invalid as exc:
        return [f"device: {exc}"]
    found: list[str] = []
    for key, component in device["components"].items():
        config = dict(component)
        for option in SHARED_OPTIONS:  # what Home Assistant copies from the device level
            if option in device and option not in config:
                config[option] = device[option]
        platform = config.pop("platform")
        module = importlib.import_module(f"homeassistant.components.mqtt.{platform}")
        try:
            validated = module.DISCOVERY_SCHEMA(config)
        except vol.Invalid as exc:
            found.append(f"{key} ({platform}): {exc}")
            continue
        dropped = sorted(set(config) - set(validated))
        if dropped:
            found.append(f"{key} ({platform}): Home Assistant ignores {', '.join(dropped)}")
    return found


async def check(payloads: list[dict[str, Any]]) -> list[str]:
    # Templates are checked against a Home Assistant instance, as on receipt of a discovery message.
    with tempfile.TemporaryDirectory() as config_dir:
        hass = HomeAssistant(config_dir)
        frame.async_setup(hass)
        return [problem for payload in payloads for problem in problems_of(payload)]


def main() -> int:
    failures = asyncio.run(check(json.load(sys.stdin)))
    for line in failures:
        print(line)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
