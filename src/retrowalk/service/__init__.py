"""The service: treadmill runners, the command path, and the process that runs them."""

# Nothing is re-exported here: import from the modules themselves.
__all__: list[str] = []
