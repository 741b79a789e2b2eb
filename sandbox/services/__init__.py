"""Writes and side effects of the simulator, one module per sub-domain."""
