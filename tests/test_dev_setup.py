"""The README's set-up on a fresh clone, as on a stock Debian 12: `scripts/dev` under `env -i` with only
/usr/bin and /bin on PATH (pyenv's Pythons out of sight, so the only python3 is the system's, which may
be externally managed) and a fresh, empty HOME.

Each test clones the repository into tmp_path and lays the working tree's uncommitted changes over the
clone, so that a change to the set-up is tested before it is committed. Only the settings that say how
this machine reaches the package index pass through `env -i` (certificates, proxies), and the download
caches of pip and uv are shared so that a run does not fetch some 50 MB again; nothing else does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SETUP_TIMEOUT_S = 240
NETWORK_SETTINGS = (
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
)
# What scripts/dev says, word for word, when neither a Python 3.12 nor a download of one is at hand.
NO_PYTHON_MESSAGE = """\
[setup] no Python 3.12 found, and uv could not download one (its error is above).
retrowalk needs Python 3.12 (Debian 12's own python3 is 3.11, and it has no python3.12 package).
Run this command again after one of these:
  - let uv download it: allow this machine to reach github.com, where uv's Python builds are;
  - install it: pyenv install 3.12 (https://github.com/pyenv/pyenv, with its shims on PATH),
    or on Ubuntu 22.04: sudo add-apt-repository ppa:deadsnakes/ppa && sudo apt-get install python3.12;
  - name one you have: RETROWALK_PYTHON=/path/to/python3.12 scripts/dev setup
"""


def git_names(*args: str) -> list[str]:
    out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [name for name in out.splitlines() if name]


def fresh_clone(dest: Path) -> Path:
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(dest)], check=True)
    changed = git_names("diff", "--name-only", "HEAD")
    changed += git_names("ls-files", "--others", "--exclude-standard")
    for name in changed:
        if (ROOT / name).exists():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
        else:
            (dest / name).unlink(missing_ok=True)
    return dest


def user_cache(name: str) -> str:
    return str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / name)


def stock_env(home: Path, **extra: str) -> dict[str, str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home)}
    env |= {name: os.environ[name] for name in NETWORK_SETTINGS if name in os.environ}
    env |= {"PIP_CACHE_DIR": user_cache("pip"), "UV_CACHE_DIR": user_cache("uv")}
    return env | extra


def run_dev(clone: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["env", "-i", *(f"{k}={v}" for k, v in env.items()), "scripts/dev", *args],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=SETUP_TIMEOUT_S,
        check=False,
    )


def project_version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as f:
        version: str = tomllib.load(f)["project"]["version"]
    return version


def assert_working_venv(clone: Path) -> None:
    version = subprocess.run(
        [clone / ".venv" / "bin" / "retrowalk", "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.strip() == f"retrowalk {project_version()}"


DEMO_AS_CI_RUNS_IT = ["demo", "--speedup", "30", "--plain"]


@pytest.mark.slow
@pytest.mark.timeout(SETUP_TIMEOUT_S + 30)
@pytest.mark.parametrize("command", [["setup"], DEMO_AS_CI_RUNS_IT], ids=["setup", "demo"])
def test_a_stock_system_python_gets_a_venv_or_the_exact_python_to_install(
    tmp_path: Path, command: list[str]
) -> None:
    clone = fresh_clone(tmp_path / "clone")
    home = tmp_path / "home"
    home.mkdir()

    result = run_dev(clone, stock_env(home), *command)

    output = result.stdout + result.stderr
    assert "externally-managed-environment" not in output
    assert "Traceback" not in output
    # uv went into a private environment of its own, not into the system Python nor ~/.local.
    assert list(home.glob(".cache/retrowalk/uv-*/bin/uv")), result.stderr
    assert not (home / ".local" / "lib").exists()
    assert not (home / ".local" / "bin" / "uv").exists()
    system_uv = subprocess.run(
        ["env", "-i", f"HOME={home}", "/usr/bin/python3", "-c", "import uv"], capture_output=True, check=False
    )
    assert system_uv.returncode != 0
    if result.returncode == 0:
        assert_working_venv(clone)
    else:
        # This machine has no Python 3.12 in /usr/bin and cannot download one: the script says so.
        assert result.stderr.endswith(NO_PYTHON_MESSAGE), result.stderr
        assert not (clone / ".venv").exists()


def python312_from_normal_path() -> str | None:
    if shutil.which("python3.12") is None:
        return None
    found = subprocess.run(
        ["python3.12", "-c", "import sys; print(sys.executable)"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return found.stdout.strip() or None


@pytest.mark.slow
@pytest.mark.timeout(SETUP_TIMEOUT_S + 30)
def test_retrowalk_python_names_the_interpreter_for_venv(tmp_path: Path) -> None:
    python312 = python312_from_normal_path()
    if python312 is None:
        pytest.skip("no python3.12 on this machine's PATH")
    clone = fresh_clone(tmp_path / "clone")
    home = tmp_path / "home"
    home.mkdir()
    env = stock_env(home, RETROWALK_PYTHON=python312)

    result = run_dev(clone, env, "setup")

    assert result.returncode == 0, result.stderr
    assert "[setup] .venv is ready: Python 3.12." in result.stderr
    assert os.path.realpath(clone / ".venv" / "bin" / "python") == os.path.realpath(python312)
    assert_working_venv(clone)
    # Set up once, the next command goes straight to work.
    again = run_dev(clone, env, "setup")
    assert (again.returncode, again.stderr) == (0, "")
    # A .venv whose interpreter vanished (a Python uninstalled, a lock that changed) is built again.
    (clone / ".venv" / "bin" / "python").unlink()
    (clone / ".venv" / "bin" / "python").symlink_to(tmp_path / "uninstalled-python3.12")
    (clone / ".venv" / ".lock-stamp").unlink()
    rebuilt = run_dev(clone, env, "setup")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "[setup] .venv is not a working Python 3.12 environment" in rebuilt.stderr
    assert_working_venv(clone)


def fake_command(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{script}\n", encoding="utf-8")
    path.chmod(0o755)


def test_a_python3_without_venv_gets_the_package_to_install_named(tmp_path: Path) -> None:
    # Debian 12 and Ubuntu ship venv's pip apart, in python3-venv, which a stock system lacks. Run as an
    # ordinary user (a fake `id`), the script cannot install it and must name it; nothing is left behind.
    clone = fresh_clone(tmp_path / "clone")
    home = tmp_path / "home"
    home.mkdir()
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    fake_command(
        fake_bin,
        "python3",
        'if [ "$1 $2" = "-m venv" ]; then echo "ensurepip is not available" >&2; exit 1; fi\n'
        'exec /usr/bin/python3 "$@"',
    )
    fake_command(fake_bin, "id", "echo 1000")

    result = run_dev(clone, stock_env(home, PATH=f"{fake_bin}:/usr/bin:/bin"), "setup")

    assert result.returncode == 1
    assert result.stderr.endswith(
        f"[setup] uv is not installed, and {fake_bin}/python3 has no working venv module to install it"
        " with. Install either\n"
        "  python3 with its venv module (Debian/Ubuntu: sudo apt-get install python3-venv), or\n"
        "  uv itself (https://docs.astral.sh/uv/getting-started/installation/),\n"
        "then run this command again.\n"
    ), result.stderr
    assert list((home / ".cache" / "retrowalk").iterdir()) == []
    assert not (clone / ".venv").exists()
