"""The Celery application `config`: settings come from Django under the CELERY_ namespace.

Workers log through Django's LOGGING (JSON lines in production) instead of Celery's own format,
every task's lines carry its task id, and each worker writes a heartbeat for /healthz.
"""

import logging
import logging.config
import os
from typing import Any

from celery import Celery, signals
from django.conf import settings

from config.heartbeat import WorkerHeartbeat
from config.logging import scope_close, scope_open

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.steps["worker"].add(WorkerHeartbeat)
_task_scopes: dict[str, Any] = {}  # task id -> its log scope, closed when the task ends


@signals.setup_logging.connect
def _log_like_django(loglevel: Any = None, **kwargs: Any) -> None:
    """Connecting this stops Celery from replacing the root logger's handlers with its own."""
    logging.config.dictConfig(settings.LOGGING)
    if loglevel:
        logging.getLogger().setLevel(loglevel)


@signals.task_prerun.connect
def _bind_task_ids(task_id: str = "", task: Any = None, **kwargs: Any) -> None:
    _task_scopes[task_id] = scope_open(task_id=task_id, task=getattr(task, "name", ""))


@signals.task_postrun.connect
def _unbind_task_ids(task_id: str = "", **kwargs: Any) -> None:
    token = _task_scopes.pop(task_id, None)
    if token is not None:
        scope_close(token)
