"""Home Assistant's event entity fires for every copy of an event (delivery is at least once) and cannot
drop copies itself; getting-started-home.md shows an automation that acts once per event by its
`event_id`. These tests hold that example to what retrowalk publishes and run its condition."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from retrowalk.mqtt.discovery import EVENT_KINDS, DeviceFacts, HaEvent, discovery_payload
from retrowalk.mqtt.payloads import EventPayload
from retrowalk.mqtt.topics import Topics

from .home_assistant import ha_python

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "getting-started-home.md"


def example() -> str:
    """The automation of the guide's "Acting once per event" section, as YAML text."""
    section = GUIDE.read_text(encoding="utf-8").split("### Acting once per event", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert block is not None, "the section has no YAML example"
    return block.group(1)


def found(pattern: str, text: str) -> str:
    match = re.search(pattern, text, re.DOTALL)
    assert match is not None, f"{pattern!r} not in the example"
    return match.group(1)


def condition(automation: str) -> str:
    """The template condition (a folded `>-` block: its lines joined by spaces)."""
    folded = found(r"condition: template\n\s+value_template: >-\n(.*?)\nactions:", automation)
    return " ".join(line.strip() for line in folded.splitlines())


def test_the_example_follows_the_event_entity_by_the_id_every_copy_carries() -> None:
    automation = example()
    published = discovery_payload(Topics("retrowalk/v1/", "homeassistant", "home"), "home", DeviceFacts(), ())
    entity = published.cmps["event"]
    assert isinstance(entity, HaEvent)
    assert found(r"trigger: state\n\s+entity_id: (\S+)", automation) == f"event.{entity.object_id}"
    # Every field of the payload reaches Home Assistant as an attribute, and every event has an id.
    assert entity.value_template.startswith("{{ dict(value_json,")
    assert all("event_id" in kind.model_fields for kind in EventPayload.__args__)
    kinds = re.findall(r"event_type == '(\w+)'", condition(automation))
    assert kinds
    assert set(kinds) <= set(EVENT_KINDS)
    # The id acted on is remembered first, in the helper the condition compares with.
    remembered = found(r"actions:\n(\s+- action: [^\n]+\n(?:\s{4,}[^\n]+\n)+)", automation)
    assert "- action: input_text.set_value" in remembered
    helper = found(r"entity_id: (input_text\.\w+)", remembered)
    assert f"states('{helper}')" in condition(automation)
    assert 'value: "{{ trigger.to_state.attributes.event_id }}"' in remembered


# Jinja, as Home Assistant renders a template condition (its `states()` is the helper's value here).
RENDER = """
import json, sys
import jinja2
case = json.load(sys.stdin)
env = jinja2.Environment()
template = env.from_string(case["template"])
for trigger, helper in case["runs"]:
    print(template.render(trigger=trigger, states=lambda entity_id: helper).strip())
"""


@pytest.mark.homeassistant
def test_the_example_acts_on_a_new_event_but_not_on_its_copy_or_the_entity_coming_back() -> None:
    def state(event_type: str | None, event_id: str | None) -> dict[str, Any]:
        attributes: dict[str, Any] = {"event_types": list(EVENT_KINDS)}
        if event_type is not None:
            attributes |= {"event_type": event_type, "event_id": event_id}
        return {"state": "2026-12-01T09:00:00" if event_type else "unavailable", "attributes": attributes}

    key, other = state("safety_key", "id-1"), state("phase_changed", "id-2")
    unavailable = state(None, None)
    runs = [
        ({"from_state": other, "to_state": key}, "id-0"),  # a new safety_key event: act
        ({"from_state": key, "to_state": key}, "id-1"),  # its copy, after acting on it: skip
        ({"from_state": unavailable, "to_state": key}, "id-1"),  # back online, showing it again: skip
        ({"from_state": key, "to_state": unavailable}, "id-1"),  # the service went offline: skip
        ({"from_state": key, "to_state": other}, "id-1"),  # another kind: skip
        ({"from_state": unavailable, "to_state": key}, "id-0"),  # new, arrived while unavailable: act
    ]
    rendered = subprocess.run(
        [str(ha_python()), "-c", RENDER],
        input=json.dumps({"template": condition(example()), "runs": runs}),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert rendered.stdout.split() == ["True", "False", "False", "False", "False", "True"]
