"""`retrowalk kiosk`: the web pages beside the treadmills, a client of the MQTT API and nothing else
(docs/kiosk-api.md is the contract with the pages, docs/getting-started-kiosk.md the set-up)."""
