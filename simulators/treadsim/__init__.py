"""treadsim: a software FTMS treadmill, its virtual BlueZ adapter and its tester console."""

from importlib.metadata import version

__all__ = ["__version__"]

# treadsim ships in the retrowalk distribution (pyproject.toml's wheel packages), so it has that version.
__version__ = version("retrowalk")
