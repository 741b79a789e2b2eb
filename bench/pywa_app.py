"""Floor (b), the peer: pywa 4.x mounted on FastAPI, verifying X-Hub-Signature-256 itself.

pywa answers 200 once the signature checks out and parses and dispatches the update afterwards,
in a background task of the same process; it stores nothing. Duplicate skipping is off, as in
perf-anchors.md, so every request is handled. Run with
`uvicorn bench.pywa_app:app --workers 2 --loop uvloop --http httptools` (see bench.harness).
"""

import os

from fastapi import FastAPI
from pywa import WhatsApp, types

from bench import conf

app = FastAPI()
wa = WhatsApp(
    phone_id=conf.BENCH_PHONE_NUMBER_ID,
    token="bench-token-unused",  # noqa: S106 - pywa never calls Graph here
    server=app,
    webhook_endpoint="/webhooks/meta/",
    verify_token="bench-verify-token",  # noqa: S106 - never used (no GET handshake in the run)
    app_secret=os.environ["META_APP_SECRET"],
    validate_updates=True,
    skip_duplicate_updates=False,
)
handled = {"messages": 0}


@wa.on_message()  # type: ignore[misc]
def on_message(_client: WhatsApp, _message: types.Message) -> None:
    handled["messages"] += 1
