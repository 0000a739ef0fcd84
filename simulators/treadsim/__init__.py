"""treadsim: a software FTMS treadmill, its virtual BlueZ adapter and its tester console."""

__version__ = "0.1.0"
