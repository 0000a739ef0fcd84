"""The treadmill link: pyftms + bleak, one link per treadmill, fail-safe on loss."""

# Nothing is re-exported here: import from the modules themselves.
__all__: list[str] = []
