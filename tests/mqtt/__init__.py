"""Tests of the MQTT bridge against a real mosquitto."""
