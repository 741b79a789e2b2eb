"""Smoke tests of the benchmark harness pieces (seconds; the harness itself is bench/run)."""
