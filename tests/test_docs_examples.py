"""The docs stay true: example configurations load, every configuration field is documented, and the
README's two commands are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from retrowalk.config import (
    HomeAssistantSection,
    LinkSection,
    ServiceSection,
    Settings,
    TreadmillConfig,
    load_config,
)
from retrowalk.mqtt.settings import BrokerSettings, TlsSettings
from retrowalk.session.events import EndReason
from retrowalk.session.plan import OperatorCeilings, SessionPlan

ROOT = Path(__file__).resolve().parent.parent
# The service's examples; kiosk*.toml configure `retrowalk kiosk` (tests/kiosk/test_settings.py).
EXAMPLES = sorted(p for p in (ROOT / "docs" / "examples").glob("*.toml") if not p.name.startswith("kiosk"))
# Each table of the configuration and the model behind it ([default_plan] takes SessionPlan fields).
TABLES: dict[str, type[BaseModel]] = {
    "service": ServiceSection,
    "ceilings": OperatorCeilings,
    "default_plan": SessionPlan,
    "treadmills": TreadmillConfig,
    "broker": BrokerSettings,
    "broker.tls": TlsSettings,
    "link": LinkSection,
    "home_assistant": HomeAssistantSection,
}


pytestmark = pytest.mark.usefixtures("config_sandbox")


def test_there_are_examples_for_each_kind_of_user() -> None:
    assert {p.name for p in EXAMPLES} >= {"gym.toml", "home.toml", "treadsim.toml"}


# The machine directories an example names; the test gives them a temporary home, with the files
# that must exist there.
SITE_DIRECTORIES = ("/var/lib/retrowalk", "/etc/retrowalk")


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_configuration_loads(path: Path, tmp_path: Path) -> None:
    """As a user would run it: relative storage next to where retrowalk starts, site paths existing."""
    text = path.read_text(encoding="utf-8")
    for directory in SITE_DIRECTORIES:
        relocated = tmp_path / directory.strip("/")
        relocated.mkdir(parents=True)
        for name in re.findall(rf'"{re.escape(directory)}/([^"/]+)"', text):
            if not name.endswith(".sqlite3"):
                (relocated / name).write_text("test material\n")
        text = text.replace(f'"{directory}/', f'"{relocated}/')
    copy = tmp_path / path.name
    copy.write_text(text, encoding="utf-8")
    settings = load_config(copy)
    assert settings.treadmills


def test_every_configuration_field_is_documented() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert set(TABLES) >= {name for name in Settings.model_fields if name != "treadmills"} | {"treadmills"}
    missing = []
    for table, model in TABLES.items():
        heading = rf"^## `\[\[?{re.escape(table)}\]\]?`"  # [[treadmills]] is an array of tables
        section = re.search(rf"{heading}.*?(?=^## |\Z)", text, re.M | re.S)
        if section is None:
            missing.append(f"[{table}] (no section)")
            continue
        missing += [
            f"[{table}] {field}" for field in model.model_fields if f"`{field}`" not in section.group(0)
        ]
    assert missing == [], f"docs/configuration.md does not describe: {missing}"


def test_the_readme_gives_the_two_commands_that_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^scripts/dev demo\b", readme, re.M)
    assert re.search(r"^scripts/dev test\b", readme, re.M)
    assert re.search(r"^scripts/dev test$", ci, re.M)
    assert re.search(r"^scripts/dev demo --speedup \d+ --plain$", ci, re.M)
    assert ci.index("scripts/dev test") < ci.index("scripts/dev demo")


def doc_links() -> list[tuple[Path, str, Path]]:
    links = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", doc.read_text(encoding="utf-8")):
            if "://" not in target:
                links.append((doc, target, (doc.parent / target).resolve()))
    return links


def test_links_between_the_docs_point_at_files_that_exist() -> None:
    links = doc_links()
    assert any(target.endswith("mqtt.md") for _, target, _ in links)
    broken = [f"{doc.relative_to(ROOT)} -> {target}" for doc, target, path in links if not path.exists()]
    assert broken == []


@pytest.mark.parametrize(
    ("guide", "section"),
    [("getting-started-home.md", "## 7. When it does not work"), ("getting-started-kiosk.md", "## 5.")],
)
def test_the_troubleshooting_tables_name_every_end_reason(guide: str, section: str) -> None:
    text = (ROOT / "docs" / guide).read_text()
    troubleshooting = text[text.index(section) :]
    missing = [
        r.value for r in EndReason if r is not EndReason.COMPLETED and f"`{r.value}`" not in troubleshooting
    ]
    assert missing == [], f"{guide} {section} does not say what these end reasons mean: {missing}"


# The commands that open the configuration's history file (check-config only looks at its directory).
HISTORY_COMMANDS = r"^\$ retrowalk (?:serve|session|user)\b.*?--config (\S+)"


@pytest.mark.parametrize("guide", ["getting-started-home.md", "getting-started-kiosk.md"])
def test_the_guides_keep_history_files_out_of_the_repository(guide: str) -> None:
    """The examples name their history file relative to where retrowalk runs: a guide that ran them from
    the repository root would leave the file there, so the guides copy the example out and run it there."""
    text = (ROOT / "docs" / guide).read_text(encoding="utf-8")
    configs = re.findall(HISTORY_COMMANDS, text, re.M)
    assert configs, f"{guide} runs no retrowalk command on a configuration"
    in_repository = [config for config in configs if config.startswith("docs/")]
    assert in_repository == []
