"""Floor (c): a plain `requests` loop posting Standard-Webhooks-signed JSON to the receiver.

`python -m bench.forward_floor URL COUNT [--processes 2]` (secret in RECEIVER_SECRET) starts the
processes together, each posting COUNT/processes envelopes of the platform's shape and size with a
distinct webhook-id on one keep-alive session, signing each, checking each answer is 200. Prints
one JSON line: posts, failures, elapsed seconds (first start to last finish), posts per second,
and the CPU seconds the sending processes used.
"""

import argparse
import base64
import hashlib
import hmac
import json
import multiprocessing
import os
import resource
import sys
import time

import requests

from bench import payloads
from bench.receiver import secret_key


def envelope(n: int) -> tuple[str, bytes]:
    """(webhook-id, body) like the platform's delivery of an inbound message event."""
    value = payloads.message_document("FWD", n)["entry"][0]["changes"][0]["value"]  # type: ignore[index]
    webhook_id = "evt_" + hashlib.sha256(f"floor:{n}".encode()).hexdigest()[:32]
    document = {
        "id": webhook_id,
        "type": "message.received",
        "source": "meta",
        "field": "messages",
        "waba_id": "190000000000001",
        "phone_number_id": "191000000000001",
        "timestamp": 1790000000,
        "occurred_at": "2026-09-21T12:53:20Z",
        "created_at": "2026-09-21T12:53:21Z",
        "data": value,
    }
    return webhook_id, json.dumps(document, separators=(",", ":")).encode()


def _sender(
    url: str, start: int, count: int, start_at: float, out: "multiprocessing.Queue[object]"
) -> None:
    key = secret_key(os.environ["RECEIVER_SECRET"].split(",")[0])
    bodies = [envelope(n) for n in range(start, start + count)]
    session = requests.Session()
    failures = 0
    while time.time() < start_at:
        time.sleep(0.001)
    began = time.time()
    for webhook_id, body in bodies:
        timestamp = str(int(time.time()))
        content = f"{webhook_id}.{timestamp}.".encode() + body
        sig = "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
        headers = {
            "content-type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": timestamp,
            "webhook-signature": sig,
        }
        try:
            response = session.post(url, data=body, headers=headers, timeout=15)
            failures += response.status_code != 200
        except requests.RequestException:
            failures += 1
    out.put((began, time.time(), count, failures))


def run(url: str, count: int, processes: int) -> dict[str, float]:
    queue: multiprocessing.Queue[object] = multiprocessing.Queue()
    share = count // processes
    start_at = time.time() + 1.0 + 0.0005 * share  # after every process has built its bodies
    workers = [
        multiprocessing.Process(target=_sender, args=(url, i * share, share, start_at, queue))
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=600) for _ in workers]
    for worker in workers:
        worker.join()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the joined sender processes
    began = min(r[0] for r in results)  # type: ignore[index]
    ended = max(r[1] for r in results)  # type: ignore[index]
    posts = sum(r[2] for r in results)  # type: ignore[index]
    failures = sum(r[3] for r in results)  # type: ignore[index]
    elapsed = ended - began
    return {
        "posts": posts,
        "failures": failures,
        "elapsed_s": round(elapsed, 3),
        "per_s": round(posts / elapsed, 1) if elapsed > 0 else 0.0,
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("count", type=int)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.url, args.count, args.processes)))


if __name__ == "__main__":
    main(sys.argv[1:])
