"""The kiosk's configuration: the example loads, every mistake is named with its field and what to do
(exit 2, connecting to nothing), the staff password is stored only as a hash, and every field is
documented."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from retrowalk import cli
from retrowalk.kiosk.passwords import hash_password, verify_password
from retrowalk.kiosk.settings import (
    EXAMPLE_PASSWORD_HASH,
    HttpSection,
    KioskSettings,
    KioskTreadmill,
    StaffSection,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "kiosk.toml"

pytestmark = pytest.mark.usefixtures("config_sandbox")


def check(capsys: pytest.CaptureFixture[str], text: str) -> tuple[int, str]:
    Path("kiosk.toml").write_text(text, encoding="utf-8")
    code = cli.main(["kiosk", "--check", "--config", "kiosk.toml"])
    out, err = capsys.readouterr()
    return code, out + err


def test_the_example_is_valid_on_this_machine_and_warns_of_its_published_secrets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, said = check(capsys, EXAMPLE.read_text())
    lines = said.splitlines()
    assert code == 0
    assert "kiosk.toml: valid (2 treadmill page(s))" in lines
    warned = sorted(line.split(": ")[3].split(" ")[0] for line in lines if "warning" in line)
    assert warned == ["staff.password_hash", "treadmills.0.token", "treadmills.1.token"]


def test_the_examples_published_hash_is_the_one_for_its_printed_password() -> None:
    # What the warning and the refusal below recognise is what the example file holds, and it opens the
    # staff pages with the password printed in the file's comment.
    text = EXAMPLE.read_text()
    [stored] = re.findall(r'^password_hash = "([^"]+)"', text, re.MULTILINE)
    assert stored == EXAMPLE_PASSWORD_HASH
    assert '"correct horse battery"' in text
    assert verify_password("correct horse battery", stored)


def test_the_examples_secrets_are_refused_when_the_pages_are_served_beyond_this_machine(
    capsys: pytest.CaptureFixture[str],
) -> None:
    beyond = EXAMPLE.read_text().replace('host = "127.0.0.1"', 'host = "0.0.0.0"', 1)
    code, said = check(capsys, beyond)
    assert code == 2
    assert "valid (2 treadmill" not in said
    for field in ("treadmills.0.token", "treadmills.1.token", "staff.password_hash"):
        assert field in said
    assert "serves the pages beyond this machine" in said
    # With tokens and a password of its own, the same kiosk is valid and warns of nothing.
    own = beyond.replace("change-me-", "own-screen-").replace(
        EXAMPLE_PASSWORD_HASH, hash_password("a staff password of our own")
    )
    assert check(capsys, own) == (0, "kiosk.toml: valid (2 treadmill page(s))\n")


TREADMILL = '[[treadmills]]\nid = "tm1"\nservice = "gym-a"\ntoken = "{token}"\n'
GOOD_TOKEN = "a-long-enough-token-0123"


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        (TREADMILL.format(token="short"), "treadmills.0.token", "shorter than 16 characters"),
        (TREADMILL.format(token=GOOD_TOKEN) * 2, "treadmills.1.id", "listed twice"),
        (
            TREADMILL.format(token=GOOD_TOKEN) + TREADMILL.format(token=GOOD_TOKEN).replace("tm1", "tm2"),
            "treadmills.1.token",
            "also the token of tm1",
        ),
        ('[staff]\npassword_hash = "hunter2"\n' + TREADMILL.format(token=GOOD_TOKEN), "staff.password_hash",
         "--hash-password"),
        ("[http]\nport = \"8080\"\n" + TREADMILL.format(token=GOOD_TOKEN), "http.port", "without quotes"),
        ('[http]\ntls_cert_file = "cert.pem"\n' + TREADMILL.format(token=GOOD_TOKEN), "http",
         "given together"),
        ("[http]\nhost = \"0.0.0.0\"\n", "treadmills", "Field required"),
    ],
)  # fmt: skip
def test_a_mistake_is_named_with_its_field(
    capsys: pytest.CaptureFixture[str], text: str, field: str, words: str
) -> None:
    code, output = check(capsys, text)
    assert code == 2
    assert re.search(rf"kiosk\.toml: {re.escape(field)}: .*{re.escape(words)}", output), output
    assert "Traceback" not in output


def test_the_pages_listen_on_localhost_unless_configured() -> None:
    assert HttpSection().host == "127.0.0.1"


def test_hash_password_prints_a_hash_that_only_its_password_matches(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a staff secret\n"))
    assert cli.main(["kiosk", "--hash-password"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith('password_hash = "scrypt$')
    stored = line.split('"')[1]
    assert "a staff secret" not in line
    assert verify_password("a staff secret", stored)
    assert not verify_password("a staff secreT", stored)
    # Two hashes of one password differ (random salt), and both verify.
    assert hash_password("a staff secret") != stored


def test_a_short_staff_password_is_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert cli.main(["kiosk", "--hash-password"]) == 2
    assert "at least 10 characters" in capsys.readouterr().err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_ctrl_d_at_the_password_prompt_is_a_plain_refusal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def end_of_input(prompt: str = "") -> str:
        raise EOFError

    monkeypatch.setattr("sys.stdin", _Terminal())
    monkeypatch.setattr("getpass.getpass", end_of_input)
    assert cli.main(["kiosk", "--hash-password"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == "retrowalk: no password was entered; nothing was printed"


# Each table of the kiosk configuration and the model behind it; [broker] is the service's own type,
# documented in docs/configuration.md.
TABLES: dict[str, type[BaseModel]] = {
    "http": HttpSection,
    "staff": StaffSection,
    "treadmills": KioskTreadmill,
}


def test_every_kiosk_field_is_documented() -> None:
    text = (ROOT / "docs" / "getting-started-kiosk.md").read_text(encoding="utf-8")
    assert set(KioskSettings.model_fields) == {*TABLES, "broker"}
    missing = []
    for table, model in TABLES.items():
        section = re.search(rf"^#### `\[\[?{table}\]\]?`.*?(?=^#|\Z)", text, re.M | re.S)
        if section is None:
            missing.append(f"[{table}] (no section)")
            continue
        missing += [f"[{table}] {name}" for name in model.model_fields if f"`{name}`" not in section.group(0)]
    assert missing == [], f"docs/getting-started-kiosk.md does not describe: {missing}"


def test_the_environment_overrides_the_file(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from retrowalk.kiosk.settings import load_kiosk_config

    Path("kiosk.toml").write_text(EXAMPLE.read_text(), encoding="utf-8")
    monkeypatch.setenv("RETROWALK_KIOSK_BROKER__USERNAME", "kiosk-web")
    monkeypatch.setenv("RETROWALK_KIOSK_BROKER__PASSWORD", "from-the-environment")
    monkeypatch.setenv("RETROWALK_KIOSK_HTTP__PORT", "9090")
    settings = load_kiosk_config(Path("kiosk.toml"))
    assert settings.broker.password is not None
    assert settings.broker.password.get_secret_value() == "from-the-environment"
    assert settings.http.port == 9090
    monkeypatch.setenv("RETROWALK_KIOSK_HTTP__PORT", "many")
    code, output = check(capsys, EXAMPLE.read_text())
    assert code == 2
    assert "RETROWALK_KIOSK_HTTP__PORT (environment): http.port:" in output


@pytest.mark.parametrize("variable", ["RETROWALK_KIOSK_HTTP", "RETROWALK_KIOSK_TREADMILLS"])
def test_a_table_in_the_environment_that_is_not_json_is_named_and_changes_nothing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    # The service's rule for environment text (retrowalk.config): a whole table must be JSON, and one
    # that is not is a configuration mistake with its variable, never pydantic-settings' bare error.
    monkeypatch.setenv(variable, "port=9090 secret-ish")
    code, output = check(capsys, EXAMPLE.read_text())
    assert code == 2
    field = variable.removeprefix("RETROWALK_KIOSK_").lower()
    assert f"{variable} (environment): {field}: is not JSON" in output
    assert f"{variable}__NAME=value" in output
    assert "secret-ish" not in output
    assert "SettingsError" not in output
    assert "Traceback" not in output
