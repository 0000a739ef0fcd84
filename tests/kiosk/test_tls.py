"""The kiosk over HTTPS from certificate files: pages are served, and cookies are Secure."""

from __future__ import annotations

import ssl
from pathlib import Path

import aiohttp

from tests.mqtt.mqtt_broker import Mosquitto, make_certificates

from .kiosk_rig import TOKENS, kiosk_settings, running_kiosk


async def test_with_certificate_files_the_kiosk_serves_https_and_secure_cookies(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    tls = make_certificates(tmp_path)
    settings = kiosk_settings(
        mosquitto.port, tls_cert_file=str(tls.server_cert), tls_key_file=str(tls.server_key)
    )
    trusted = ssl.create_default_context(cafile=str(tls.ca))
    async with (
        running_kiosk(settings) as kiosk,
        aiohttp.ClientSession(base_url=kiosk.url, cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser,
    ):
        assert kiosk.url.startswith("https://127.0.0.1:")
        health = await browser.get("/healthz", ssl=trusted)
        assert health.status == 200
        setup = await browser.get(f"/t/tm0?token={TOKENS['tm0']}", allow_redirects=False, ssl=trusted)
        assert setup.status == 303
        assert setup.cookies["rw_kiosk_tm0"]["secure"]
