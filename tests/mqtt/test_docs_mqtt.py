"""docs/mqtt.md stays true: its example payloads validate against the models, and it names every topic."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from retrowalk.errors import REFUSAL_CODES
from retrowalk.mqtt.commands import COMMAND_ADAPTER, CommandReply
from retrowalk.mqtt.payloads import Event, SessionSummary, Telemetry, TreadmillState

DOC = Path(__file__).parents[2] / "docs" / "mqtt.md"
ADAPTERS: dict[str, TypeAdapter[Any]] = {
    "TreadmillState": TypeAdapter(TreadmillState),
    "Telemetry": TypeAdapter(Telemetry),
    "Event": TypeAdapter(Event),
    "SessionSummary": TypeAdapter(SessionSummary),
    "Command": COMMAND_ADAPTER,
    "CommandReply": TypeAdapter(CommandReply),
}
EXAMPLES = re.findall(r"<!-- example: (\w+) -->\n```json\n(.*?)\n```", DOC.read_text(encoding="utf-8"), re.S)


def test_there_is_an_example_of_every_payload() -> None:
    assert {name for name, _ in EXAMPLES} == set(ADAPTERS)


@pytest.mark.parametrize(("model", "text"), EXAMPLES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(EXAMPLES)])
def test_each_example_is_valid(model: str, text: str) -> None:
    ADAPTERS[model].validate_json(text)


def test_every_topic_leaf_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for leaf in ("availability", "state", "telemetry", "event", "summary", "command", "reply"):
        assert f"`<prefix>treadmill/<id>/{leaf}`" in text
    assert "`<prefix>service/<service_id>/availability`" in text
    assert "`<discovery_prefix>/device/retrowalk_<id>/config`" in text


def test_every_refusal_code_is_documented_and_no_other() -> None:
    text = DOC.read_text(encoding="utf-8")
    table = re.search(r"^\| `code` \|.*?\n\n", text, re.M | re.S)
    assert table is not None, "docs/mqtt.md has no table of refusal codes"
    documented = re.findall(r"^\| `(\w+)` \|", table.group(0), re.M)[1:]  # the header names `code`
    assert documented == list(REFUSAL_CODES)
