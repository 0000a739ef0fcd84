"""Tests of treadsim, the simulated FTMS treadmill."""
