"""`retrowalk kiosk`: the web pages beside the treadmills, a client of the MQTT API and nothing else
(docs/kiosk-api.md is the contract with the pages, docs/getting-started-kiosk.md the set-up)."""

from retrowalk.kiosk.app import Kiosk
from retrowalk.kiosk.settings import KioskSettings, load_kiosk_config

__all__ = ["Kiosk", "KioskSettings", "load_kiosk_config"]
