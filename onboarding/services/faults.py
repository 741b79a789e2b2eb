"""A test-only crash hook for the kill test; does nothing unless PIPELINE_CRASH_AFTER is set.

The step services call `crash_point(<step name>)` right after the Graph call that performs the
step's effect and before anything about it is written. When the setting names that step, the
process SIGKILLs itself there, the worst moment for a crash: Meta did the work, we recorded
nothing. Run the worker with `--pool=solo` so the killed process is the whole worker. Settings
refuse PIPELINE_CRASH_AFTER when DEBUG is off.
"""

import logging
import os
import signal

from django.conf import settings

logger = logging.getLogger(__name__)


def crash_point(name: str) -> None:
    if settings.PIPELINE_CRASH_AFTER and name == settings.PIPELINE_CRASH_AFTER:
        logger.warning("PIPELINE_CRASH_AFTER=%s: killing this process now", name)
        os.kill(os.getpid(), signal.SIGKILL)
