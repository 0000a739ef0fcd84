"""retrowalk: guided backward-walking sessions on Bluetooth FTMS treadmills."""

__version__ = "0.1.0"
