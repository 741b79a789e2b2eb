"""`manage.py sandbox <action>`: drive the simulated Meta from a shell.

Actions: signup, inbound, statuses, redeliver, fault, faults-clear, quality, account-update,
flush, calls, config. Events are delivered from this process at once (their order kept) unless
--no-send leaves them to the server's dispatcher. Output is JSON.
"""

import json
from argparse import ArgumentParser, Namespace
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from sandbox.models import (
    SandboxApp,
    SandboxMessage,
    SandboxPhoneNumber,
    SandboxWaba,
    SandboxWebhook,
)
from sandbox.selectors import sandbox_calls
from sandbox.services import accounts, dispatch, events, faults, webhooks
from sandbox.services.bootstrap import sandbox_bootstrap, sandbox_config_update


def _hooks(hooks: list[SandboxWebhook]) -> list[dict[str, Any]]:
    return [{"id": h.pk, "field": h.field, "url": h.url, "status": h.status} for h in hooks]


class Command(BaseCommand):
    help = "Drive the Meta sandbox: signups, inbound messages, statuses, faults, flushes."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        signup = actions.add_parser("signup", help="a finished Embedded Signup")
        self._signup(signup)
        inbound = actions.add_parser("inbound", help="a customer writes to a number")
        inbound.add_argument("--phone-number-id", required=True)
        inbound.add_argument("--from", dest="from_wa_id", default="15550009999")
        inbound.add_argument("--type", default="text", choices=events.INBOUND_TYPES)
        inbound.add_argument("--text", default="Hello from the sandbox")
        inbound.add_argument("--name", default="Sandbox Customer")
        inbound.add_argument("--duplicate", type=int, default=0, help="extra identical POSTs")
        statuses = actions.add_parser("statuses", help="statuses for a sent message, any order")
        statuses.add_argument("--wamid", required=True)
        statuses.add_argument("--order", required=True, help="e.g. read,delivered,sent")
        statuses.add_argument("--batch", action="store_true", help="all in one POST")
        statuses.add_argument("--duplicate", type=int, default=0)
        statuses.add_argument("--error-code", type=int)
        redeliver = actions.add_parser("redeliver", help="send a webhook again, byte for byte")
        redeliver.add_argument("--webhook-id", type=int, required=True)
        redeliver.add_argument("--times", type=int, default=1)
        self._fault(actions.add_parser("fault", help="inject a fault into the Graph simulator"))
        actions.add_parser("faults-clear", help="deactivate every fault")
        quality = actions.add_parser("quality", help="phone_number_quality_update")
        quality.add_argument("--phone-number-id", required=True)
        quality.add_argument("--event", default="FLAGGED", choices=events.QUALITY_EVENTS)
        quality.add_argument("--quality-rating", default="")
        quality.add_argument("--tier", default="", help="e.g. TIER_2K")
        account = actions.add_parser("account-update", help="account_update for a WABA")
        account.add_argument("--waba-id", required=True)
        account.add_argument("--event", required=True, choices=events.ACCOUNT_EVENTS)
        actions.add_parser("flush", help="send every pending webhook now")
        calls = actions.add_parser("calls", help="the Graph call log")
        calls.add_argument("--endpoint")
        calls.add_argument("--limit", type=int, default=50)
        config = actions.add_parser("config", help="runtime knobs, e.g. template_review_delay_s=0")
        config.add_argument("pairs", nargs="+", metavar="name=json-value")
        for sub in (signup, inbound, statuses, redeliver, quality, account):
            sub.add_argument("--no-send", action="store_true", help="leave it to the server")

    def _signup(self, parser: ArgumentParser) -> None:
        parser.add_argument("--app-id", default="")
        parser.add_argument("--event", default="FINISH", choices=accounts.FINISH_EVENTS)
        for name in (
            "business-id",
            "business-name",
            "waba-id",
            "waba-name",
            "phone-number-id",
            "display-phone-number",
            "verified-name",
        ):
            parser.add_argument(f"--{name}", default="")
        parser.add_argument("--currency", default="USD", choices=accounts.CURRENCIES)

    def _fault(self, parser: ArgumentParser) -> None:
        parser.add_argument("--endpoint", required=True, help='an endpoint name, or "*"')
        parser.add_argument(
            "--kind", default="error", choices=["error", "latency", "timeout", "drop"]
        )
        parser.add_argument("--error-code", type=int)
        parser.add_argument("--error-subcode", type=int)
        parser.add_argument("--message", default="")
        parser.add_argument("--latency-ms", type=int, default=0)
        parser.add_argument("--with-effect", action="store_true")
        parser.add_argument("--object-id", default="")
        parser.add_argument("--times", type=int, default=1)
        parser.add_argument("--forever", action="store_true", help="until cleared")

    def handle(self, *args: Any, **options: Any) -> None:
        sandbox_bootstrap()
        opts = Namespace(**options)
        handler = getattr(self, "_do_" + opts.action.replace("-", "_"))
        try:
            result = handler(opts)
        except (
            ValueError,
            SandboxPhoneNumber.DoesNotExist,
            SandboxWaba.DoesNotExist,
            SandboxMessage.DoesNotExist,
            SandboxWebhook.DoesNotExist,
            SandboxApp.DoesNotExist,
        ) as exc:
            raise CommandError(str(exc)) from exc
        if not getattr(opts, "no_send", True):
            result = {**result, "delivered": _hooks(dispatch.flush())}
        self.stdout.write(json.dumps(result, indent=2, default=str))

    def _do_signup(self, opts: Namespace) -> dict[str, Any]:
        app = SandboxApp.objects.get(app_id=opts.app_id or settings.SANDBOX_APP_ID)
        return accounts.signup_complete(
            app=app,
            event=opts.event,
            business_id=opts.business_id,
            business_name=opts.business_name,
            waba_id=opts.waba_id,
            waba_name=opts.waba_name,
            currency=opts.currency,
            phone_number_id=opts.phone_number_id,
            display_phone_number=opts.display_phone_number,
            verified_name=opts.verified_name,
        ).as_json()

    def _do_inbound(self, opts: Namespace) -> dict[str, Any]:
        phone = SandboxPhoneNumber.objects.select_related("waba").get(
            phone_number_id=opts.phone_number_id
        )
        message, hooks = events.inbound_inject(
            phone=phone,
            from_wa_id=opts.from_wa_id,
            kind=opts.type,
            text=opts.text,
            profile_name=opts.name,
            duplicate=opts.duplicate,
        )
        return {"wamid": message.wamid, "queued": _hooks(hooks)}

    def _do_statuses(self, opts: Namespace) -> dict[str, Any]:
        message = SandboxMessage.objects.select_related("phone_number__waba").get(
            wamid=opts.wamid, direction="out"
        )
        hooks = events.statuses_inject(
            message=message,
            statuses=[s.strip() for s in opts.order.split(",") if s.strip()],
            batch=opts.batch,
            duplicate=opts.duplicate,
            error_code=opts.error_code,
        )
        return {"queued": _hooks(hooks)}

    def _do_redeliver(self, opts: Namespace) -> dict[str, Any]:
        hook = SandboxWebhook.objects.select_related("app").get(pk=opts.webhook_id)
        return {"queued": _hooks(webhooks.webhook_redeliver(webhook=hook, times=opts.times))}

    def _do_fault(self, opts: Namespace) -> dict[str, Any]:
        fault = faults.fault_create(
            endpoint=opts.endpoint,
            kind=opts.kind,
            error_code=opts.error_code,
            error_subcode=opts.error_subcode,
            error_message=opts.message,
            latency_ms=opts.latency_ms,
            with_effect=opts.with_effect,
            object_id=opts.object_id,
            times=None if opts.forever else opts.times,
        )
        return {"fault_id": fault.pk, "fault": str(fault), "times": fault.remaining}

    def _do_faults_clear(self, opts: Namespace) -> dict[str, Any]:
        return {"cleared": faults.fault_clear()}

    def _do_quality(self, opts: Namespace) -> dict[str, Any]:
        phone = SandboxPhoneNumber.objects.select_related("waba").get(
            phone_number_id=opts.phone_number_id
        )
        hooks = events.quality_update(
            phone=phone,
            event=opts.event,
            quality_rating=opts.quality_rating,
            messaging_limit_tier=opts.tier,
        )
        return {"queued": _hooks(hooks)}

    def _do_account_update(self, opts: Namespace) -> dict[str, Any]:
        waba = SandboxWaba.objects.select_related("business").get(waba_id=opts.waba_id)
        return {"queued": _hooks(events.account_update(waba=waba, event=opts.event))}

    def _do_flush(self, opts: Namespace) -> dict[str, Any]:
        return {"delivered": _hooks(dispatch.flush())}

    def _do_calls(self, opts: Namespace) -> dict[str, Any]:
        found = sandbox_calls(endpoint=opts.endpoint).order_by("-id")[: opts.limit]
        return {
            "calls": [
                {
                    "at": c.received_at,
                    "method": c.method,
                    "endpoint": c.endpoint,
                    "object_id": c.object_id,
                    "status": c.status_code,
                    "error_code": c.error_code,
                    "params": c.params,
                    "fault": c.fault,
                }
                for c in reversed(list(found))
            ]
        }

    def _do_config(self, opts: Namespace) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        for pair in opts.pairs:
            name, _, raw = pair.partition("=")
            try:
                changes[name] = json.loads(raw)
            except ValueError as exc:
                raise CommandError(
                    f'{name}: the value must be JSON (e.g. 0, null, "sync")'
                ) from exc
        config = sandbox_config_update(**changes)
        return {name: getattr(config, name) for name in changes}
