"""The treadmill link: pyftms + bleak, one link per treadmill, fail-safe on loss."""
