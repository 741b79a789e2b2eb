"""Customers' side of Embedded Signup: businesses, WABAs, numbers, codes and business tokens."""

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction

from sandbox import clock, ids
from sandbox.graph.errors import GraphError, invalid_parameter
from sandbox.models import (
    SandboxApp,
    SandboxAuthCode,
    SandboxBusiness,
    SandboxPhoneNumber,
    SandboxToken,
    SandboxWaba,
    SandboxWabaShare,
)
from sandbox.services import webhooks

FINISH_EVENTS = (
    "FINISH",
    "FINISH_ONLY_WABA",
    "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING",
)
CURRENCIES = ("AUD", "EUR", "GBP", "IDR", "INR", "USD")
# A display number ending in one of these always fails registration with that code.
MAGIC_REGISTER_ERRORS = (133000, 133004, 133005, 133006, 133008, 133009, 133015, 133016)
_DIGITS = re.compile(r"^[0-9]{8,15}$")


class SignupError(ValueError):
    """A simulated signup that cannot happen (unknown ids, bad choices)."""


@dataclass(frozen=True)
class Signup:
    code: str
    app: SandboxApp
    business: SandboxBusiness
    waba: SandboxWaba
    phone: SandboxPhoneNumber | None
    event: str
    expires_at_epoch: int

    def session_info(self) -> dict[str, Any]:
        """The WA_EMBEDDED_SIGNUP message the dialog posts to the page that opened it."""
        data = {"waba_id": self.waba.waba_id, "business_id": self.business.business_id}
        if self.phone is not None:
            data["phone_number_id"] = self.phone.phone_number_id
        return {"data": data, "type": "WA_EMBEDDED_SIGNUP", "event": self.event, "version": 3}

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "app_id": self.app.app_id,
            "business_id": self.business.business_id,
            "waba_id": self.waba.waba_id,
            "phone_number_id": self.phone.phone_number_id if self.phone else None,
            "display_phone_number": self.phone.display_phone_number if self.phone else None,
            "event": self.event,
            "expires_at": self.expires_at_epoch,
            "session_info": self.session_info(),
        }


def signup_complete(
    *,
    app: SandboxApp,
    event: str = "FINISH",
    business_id: str = "",
    business_name: str = "",
    waba_id: str = "",
    waba_name: str = "",
    currency: str = "USD",
    phone_number_id: str = "",
    display_phone_number: str = "",
    verified_name: str = "",
    config_id: str = "",
) -> Signup:
    """What finishing the Embedded Signup dialog does at Meta: the customer's assets exist and
    are shared with the partner app, PARTNER_ADDED is sent, and a 30-second code is issued."""
    if event not in FINISH_EVENTS:
        raise SignupError(f"event must be one of {', '.join(FINISH_EVENTS)}")
    if currency not in CURRENCIES:
        raise SignupError(f"currency must be one of {', '.join(CURRENCIES)}")
    with transaction.atomic():
        business = _business(business_id, business_name)
        waba = _waba(business, waba_id, waba_name, currency)
        phone = _phone(waba, event, phone_number_id, display_phone_number, verified_name)
        SandboxWabaShare.objects.get_or_create(waba=waba, app=app)
        code, record = _issue_code(app, business, waba, phone, event, config_id)
        _partner_added(app, waba)
    return Signup(code, app, business, waba, phone, event, int(record.expires_at.timestamp()))


def _business(business_id: str, name: str) -> SandboxBusiness:
    if business_id:
        found = SandboxBusiness.objects.filter(business_id=business_id, is_partner=False).first()
        if found is None:
            raise SignupError(f"unknown customer business {business_id}")
        return found
    return SandboxBusiness.objects.create(
        business_id=ids.new_id(), name=name or f"Customer {secrets.randbelow(10_000):04d}"
    )


def _waba(business: SandboxBusiness, waba_id: str, name: str, currency: str) -> SandboxWaba:
    if waba_id:
        found = SandboxWaba.objects.filter(waba_id=waba_id, business=business).first()
        if found is None:
            raise SignupError(f"WABA {waba_id} does not belong to business {business.business_id}")
        return found
    return SandboxWaba.objects.create(
        waba_id=ids.new_id(),
        business=business,
        name=name or f"{business.name} WhatsApp",
        currency=currency,
        message_template_namespace=secrets.token_hex(16),
    )


def _phone(
    waba: SandboxWaba, event: str, phone_number_id: str, display: str, verified_name: str
) -> SandboxPhoneNumber | None:
    if event == "FINISH_ONLY_WABA":
        return None
    if phone_number_id:
        found = SandboxPhoneNumber.objects.filter(
            phone_number_id=phone_number_id, waba=waba
        ).first()
        if found is None:
            raise SignupError(f"phone number {phone_number_id} is not in WABA {waba.waba_id}")
        return found
    return phone_number_create(
        waba=waba,
        display_phone_number=display,
        verified_name=verified_name or waba.business.name,
        coexistence=event == "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING",
    )


def phone_number_create(
    *, waba: SandboxWaba, display_phone_number: str = "", verified_name: str, coexistence: bool
) -> SandboxPhoneNumber:
    """A verified number in a WABA; magic display numbers get their registration error."""
    digits = re.sub(r"[^0-9]", "", display_phone_number) or _random_display_number()
    if not _DIGITS.match(digits):
        raise SignupError("display_phone_number must have 8 to 15 digits")
    magic = next((c for c in MAGIC_REGISTER_ERRORS if digits.endswith(str(c))), 0)
    phone = SandboxPhoneNumber(
        phone_number_id=ids.new_id(),
        waba=waba,
        display_phone_number=digits,
        verified_name=verified_name,
        register_error_code=magic,
    )
    if coexistence:  # already registered on the WhatsApp Business app; fixed 20 mps
        phone.is_coexistence = True
        phone.is_registered = True
        phone.status = "CONNECTED"
        phone.platform_type = "CLOUD_API"
        phone.throughput_mps = 20
        phone.last_onboarded_time = clock.now()
    if magic == 133005:  # someone already set a two-step PIN nobody here knows
        phone.pin_hash = ids.digest(secrets.token_hex(16))
    phone.save()
    return phone


def _random_display_number() -> str:
    while True:
        digits = f"1555{secrets.randbelow(10_000_000):07d}"
        if not any(digits.endswith(str(code)) for code in MAGIC_REGISTER_ERRORS):
            return digits


def _issue_code(
    app: SandboxApp,
    business: SandboxBusiness,
    waba: SandboxWaba,
    phone: SandboxPhoneNumber | None,
    event: str,
    config_id: str,
) -> tuple[str, SandboxAuthCode]:
    code = ids.new_secret("AQ", 160)
    now = clock.now()
    record = SandboxAuthCode.objects.create(
        code_hash=ids.digest(code),
        hint=ids.hint(code),
        app=app,
        business=business,
        waba_ids=[waba.waba_id],
        phone_number_id=phone.phone_number_id if phone else "",
        event=event,
        config_id=config_id,
        issued_at=now,
        expires_at=now + timedelta(seconds=settings.SANDBOX_CODE_TTL_S),
    )
    return code, record


def _partner_added(app: SandboxApp, waba: SandboxWaba) -> None:
    value = {
        "event": "PARTNER_ADDED",
        "waba_info": {"waba_id": waba.waba_id, "owner_business_id": waba.business.business_id},
    }
    body = webhooks.envelope(
        entry_id=app.business.business_id, changes=[("account_update", value)], with_time=True
    )
    webhooks.webhook_enqueue_for_app(
        app=app,
        field="account_update",
        waba_id=waba.waba_id,
        body=body,
        description="account_update PARTNER_ADDED",
    )


def code_exchange(*, client_id: str, client_secret: str, code: str) -> dict[str, Any]:
    """GET oauth/access_token: a code becomes a business token, once, within 30 seconds."""
    app = _app_with_secret(client_id, client_secret)
    if not code:
        raise invalid_parameter("The parameter code is required")
    record = SandboxAuthCode.objects.filter(code_hash=ids.digest(code), app=app).first()
    if record is None:
        raise GraphError(100, "Invalid verification code format.")
    if record.used_at is not None:
        raise GraphError(100, "This authorization code has been used.", subcode=36009)
    now = clock.now()
    if record.expires_at <= now:
        raise GraphError(100, "This authorization code has expired.", subcode=36007)
    with transaction.atomic():
        # The conditional update makes two racing exchanges of one code yield one token.
        if not SandboxAuthCode.objects.filter(pk=record.pk, used_at__isnull=True).update(
            used_at=now
        ):
            raise GraphError(100, "This authorization code has been used.", subcode=36009)
        targets = _target_wabas(app, record)
        token = _business_token_create(app, record.business, targets)
    return _token_answer(token)


def token_refresh(*, client_id: str, client_secret: str, token: str) -> dict[str, Any]:
    """grant_type=fb_exchange_token: a fresh token for the same business and WABAs."""
    app = _app_with_secret(client_id, client_secret)
    old = SandboxToken.objects.filter(
        token_hash=ids.digest(token), app=app, kind=SandboxToken.Kind.BUSINESS
    ).first()
    if (
        old is None
        or old.revoked_at is not None
        or (old.expires_at is not None and old.expires_at <= clock.now())
    ):
        raise GraphError(190, "Invalid OAuth access token - Cannot parse access token")
    with transaction.atomic():
        return _token_answer(_business_token_create(app, old.business, old.target_waba_ids))


def _app_with_secret(client_id: str, client_secret: str) -> SandboxApp:
    app = SandboxApp.objects.select_related("business").filter(app_id=client_id).first()
    if app is None:
        raise GraphError(101, "Error validating application. Invalid application ID.")
    if not secrets.compare_digest(app.secret.encode(), client_secret.encode()):
        raise GraphError(1, "Error validating client secret.", http_status=400)
    return app


def _target_wabas(app: SandboxApp, record: SandboxAuthCode) -> list[str]:
    """This signup's WABAs first, then the business's other WABAs shared with the app."""
    others = SandboxWabaShare.objects.filter(app=app, waba__business=record.business).order_by(
        "-created_at"
    )
    targets = list(record.waba_ids)
    for share in others.select_related("waba"):
        if share.waba.waba_id not in targets:
            targets.append(share.waba.waba_id)
    return targets


def _business_token_create(
    app: SandboxApp, business: SandboxBusiness, targets: list[str]
) -> tuple[str, SandboxToken]:
    value = ids.new_secret("EAAS", 180)
    now = clock.now()
    ttl = settings.SANDBOX_BUSINESS_TOKEN_TTL_S
    record = SandboxToken.objects.create(
        token_hash=ids.digest(value),
        hint=ids.hint(value),
        kind=SandboxToken.Kind.BUSINESS,
        app=app,
        business=business,
        user_id=ids.new_id(),
        target_waba_ids=targets,
        issued_at=now,
        expires_at=now + timedelta(seconds=ttl) if ttl else None,
    )
    return value, record


def _token_answer(token: tuple[str, SandboxToken]) -> dict[str, Any]:
    value, record = token
    answer: dict[str, Any] = {"access_token": value, "token_type": "bearer"}
    if record.expires_at is not None:
        answer["expires_in"] = int((record.expires_at - record.issued_at).total_seconds())
    return answer
