"""Fixtures of the hardening suite (issue 9): the end-to-end stack, served from this suite's ports
(18700-18799), and helpers shared by its modules."""

from tests.e2e.conftest import stack  # noqa: F401 - the module-scoped end-to-end stack

PORTS = range(18700, 18800)
