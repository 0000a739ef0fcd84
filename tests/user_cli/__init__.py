"""`retrowalk user ...` through the real command line on a real configuration and storage file.

Each test runs `retrowalk.cli.main`, reads what it printed, and reads the storage to see what changed (or
that nothing did, on bad input). Sessions are put into the history with the storage API, as the service
records them at a session's end (`records`); the fixtures are in `conftest`.
"""
