"""The treadmill page's inputs allow what the API takes, no more and no less: a person must not be able to
type what the service then refuses with a message about the API."""

from __future__ import annotations

from html.parser import HTMLParser

from pydantic import TypeAdapter

from retrowalk.kiosk.web import STATIC_DIR
from retrowalk.mqtt.commands import ClearanceCommand, ScreeningCommand
from retrowalk.mqtt.payloads import UserId


class _Inputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.by_name: dict[str, dict[str, str | None]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "input" and named.get("name"):
            self.by_name[str(named["name"])] = named


def page_inputs() -> dict[str, dict[str, str | None]]:
    parser = _Inputs()
    parser.feed((STATIC_DIR / "treadmill.html").read_text())
    return parser.by_name


def test_the_page_inputs_allow_what_the_api_takes() -> None:
    inputs = page_inputs()
    cleared_by = ClearanceCommand.model_json_schema()["properties"]["cleared_by"]
    age = ScreeningCommand.model_json_schema()["properties"]["age"]
    member_id = TypeAdapter(UserId).json_schema()
    assert (inputs["cleared_by"]["maxlength"], inputs["age"]["min"], inputs["age"]["max"]) == (
        str(cleared_by["maxLength"]),
        str(age["minimum"]),
        str(age["maximum"]),
    )
    assert inputs["member_id"]["maxlength"] == str(member_id["maxLength"])
