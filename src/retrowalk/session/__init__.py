"""The retro-session engine: plans, limits and a pure state machine that enforces them.

Nothing in this package does I/O or reads a clock: the service feeds events with the time and executes
the actions it gets back.
"""
