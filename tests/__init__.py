"""retrowalk's tests. A package, so that its sub-packages reach each other by relative imports and every
test module has one name, the same for pytest and for mypy."""
