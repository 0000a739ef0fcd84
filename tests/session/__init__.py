"""Tests of the sans-I/O session engine, judged by an independent model of the plan."""
