"""Fault campaign with real processes (issue 7): scenarios, a judge, a CI run and a long run."""
