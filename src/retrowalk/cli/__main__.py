"""`python -m retrowalk.cli`: the same as the `retrowalk` console script."""

import sys

from retrowalk.cli.command_line import main

__all__: list[str] = []

sys.exit(main())
