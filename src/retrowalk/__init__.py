"""retrowalk: guided backward-walking sessions on Bluetooth FTMS treadmills."""

from importlib.metadata import version

__all__ = ["__version__"]

# pyproject.toml's version is the only one: the installed distribution's metadata carries it (an
# editable install too), so `--version`, Home Assistant's sw_version and treadsim report the same.
__version__ = version("retrowalk")
