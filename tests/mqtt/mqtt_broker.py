"""A real mosquitto for tests: started on a free port from a generated config, stoppable and restartable
(same port, same persistence file) to play broker outages."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from retrowalk.subprocesses import Mosquitto as Launcher
from retrowalk.subprocesses import find_mosquitto, free_port

__all__ = ["MOSQUITTO", "Mosquitto", "TlsFiles", "free_port", "make_certificates"]

MOSQUITTO = Path(find_mosquitto() or "/usr/sbin/mosquitto")
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_certificates(directory: Path) -> TlsFiles:
    """A throw-away CA, a server certificate for 127.0.0.1/localhost and a client certificate."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=retrowalk test CA",
            "-keyout", "ca.key", "-out", "ca.crt")  # fmt: skip
    for name, ext in (
        ("server", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ("client", "extendedKeyUsage=clientAuth"),
    ):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
                "-out", f"{name}.csr")  # fmt: skip
        (directory / f"{name}.ext").write_text(ext + "\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.crt")  # fmt: skip
    return TlsFiles(
        ca=directory / "ca.crt",
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
        client_cert=directory / "client.crt",
        client_key=directory / "client.key",
    )


class Mosquitto(Launcher):
    """The shared launcher with what the security tests need: logins, an ACL and TLS with client
    certificates. Persistent, so a restart keeps sessions and queued messages; logs everything, since
    tests read the log."""

    def __init__(
        self,
        directory: Path,
        *,
        users: dict[str, str] | None = None,
        tls: TlsFiles | None = None,
        acl: str | None = None,
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        settings: list[str] = []
        if users:
            password_file = directory / "passwords"
            password_file.touch()
            for user, password in users.items():
                subprocess.run([MOSQUITTO_PASSWD, "-b", str(password_file), user, password], check=True)
            settings.append(f"password_file {password_file}")
        if acl is not None:
            acl_file = directory / "acl"
            acl_file.write_text(acl)
            settings.append(f"acl_file {acl_file}")
        if tls is not None:
            settings += [
                f"cafile {tls.ca}",
                f"certfile {tls.server_cert}",
                f"keyfile {tls.server_key}",
                "require_certificate true",
            ]
        super().__init__(
            directory, anonymous=not users, persistent=True, log_types=("all",), settings=settings
        )
