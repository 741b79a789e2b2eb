""".env.example lists every environment variable the settings read, and nothing they do not."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
READERS = {"_required_in_production", "_meta"}
# Read by Celery or the deploy scripts, not by settings.py, yet documented for operators.
DOCUMENTED_ELSEWHERE = {
    "REMAP_SIGTERM",
    "PORT",
    "WEB_CONCURRENCY",
    "WEB_THREADS",
    "WORKER_CONCURRENCY",
}


def _name_of(call: ast.Call) -> str | None:
    func = call.func
    is_env = (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and func.value.id == "env"
    ) or (isinstance(func, ast.Name) and (func.id == "env" or func.id in READERS))
    if not is_env or not call.args or not isinstance(call.args[0], ast.Constant):
        return None
    value = call.args[0].value
    return value if isinstance(value, str) and re.fullmatch(r"[A-Z][A-Z0-9_]+", value) else None


def variables_read() -> set[str]:
    tree = ast.parse((ROOT / "config" / "settings.py").read_text())
    return {
        name for node in ast.walk(tree) if isinstance(node, ast.Call) and (name := _name_of(node))
    }


def variables_listed() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))


def test_every_variable_the_settings_read_is_in_env_example():
    assert sorted(variables_read() - variables_listed()) == []


def test_env_example_lists_nothing_the_settings_do_not_read():
    assert sorted(variables_listed() - variables_read() - DOCUMENTED_ELSEWHERE) == []
