"""Meta webhook bodies for the load: one inbound text message each, about 1.5 KB, signed.

Every body carries its own message id (`wamid.<tag>.<n>`), so each is a distinct event for the
platform (which drops duplicates by event id); the same bodies go to the floors, so every server
parses and stores the same bytes. The shape is Cloud API's `messages` change, with the
business-scoped `user_id` fields pywa 4.5 insists on. Bodies are written one per line with their
X-Hub-Signature-256 in front (`<sig>\\t<body>`), the format bench/wrk/signed.lua reads.
"""

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path

from bench import conf

_FILLER = (
    "Hello, I would like to know whether my order has shipped and when it will arrive. "
    "It was placed last week with express delivery and I have not heard back since then. "
)
_TEXT = (_FILLER * 6)[:900]


def wamid(tag: str, n: int) -> str:
    return f"wamid.BENCH{tag}.{n:09d}"


def message_document(tag: str, n: int, *, timestamp: int = 1_790_000_000) -> dict[str, object]:
    """A `messages` webhook with one inbound text message from a distinct customer."""
    customer = f"1555{n % 10_000_000:07d}"
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": conf.BENCH_WABA_ID,
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": conf.BENCH_DISPLAY_NUMBER,
                                "phone_number_id": conf.BENCH_PHONE_NUMBER_ID,
                            },
                            "contacts": [
                                {
                                    "profile": {"name": f"Bench Customer {n}"},
                                    "wa_id": customer,
                                    "user_id": f"US.{customer}",
                                }
                            ],
                            "messages": [
                                {
                                    "from": customer,
                                    "from_user_id": f"US.{customer}",
                                    "id": wamid(tag, n),
                                    "timestamp": str(timestamp + n % 86_400),  # spread over a day
                                    "type": "text",
                                    "text": {"body": _TEXT},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }


def body(tag: str, n: int, *, timestamp: int = 1_790_000_000) -> bytes:
    document = message_document(tag, n, timestamp=timestamp)
    return json.dumps(document, separators=(",", ":")).encode()


def meta_signature(raw: bytes, app_secret: str) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()


def signed_bodies(tag: str, start: int, count: int, app_secret: str) -> Iterator[tuple[str, bytes]]:
    for n in range(start, start + count):
        raw = body(tag, n)
        yield meta_signature(raw, app_secret), raw


def write_wrk_files(
    prefix: Path, *, tag: str, threads: int, per_thread: int, app_secret: str
) -> list[Path]:
    """One file per wrk thread (`<prefix><thread number>.txt`, numbered from 1), disjoint ids."""
    paths = []
    for thread in range(threads):
        path = Path(f"{prefix}{thread + 1}.txt")
        with path.open("wb") as out:
            for sig, raw in signed_bodies(tag, thread * per_thread, per_thread, app_secret):
                out.write(sig.encode() + b"\t" + raw + b"\n")
        paths.append(path)
    return paths
