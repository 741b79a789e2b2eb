"""Routing: which WABA, and so which Tech Provider, an event belongs to.

The body decides first, because Meta's signature covers the body and not the URL: the WABA named
in `waba_info.waba_id` (account_update) or `entry.id`, then the WABA of
`value.metadata.phone_number_id`, and only then the WABA of the per-WABA URL it arrived on. An
event none of these match is parked until that WABA exists (see `webhook_events_route_parked`).
"""

from collections.abc import Iterable
from dataclasses import dataclass

from messaging.models import WebhookEvent
from onboarding import selectors as onboarding_selectors
from onboarding.models import PhoneNumber, WhatsAppBusinessAccount


@dataclass
class Router:
    """Resolves a batch of events with two queries, whatever its size."""

    wabas: dict[str, WhatsAppBusinessAccount]
    numbers: dict[str, PhoneNumber]

    @classmethod
    def for_events(cls, events: Iterable[WebhookEvent]) -> "Router":
        events = list(events)
        waba_ids = {e.named_waba_id for e in events} | {e.path_waba_id for e in events}
        number_ids = {e.phone_number_id for e in events if e.phone_number_id}
        return cls(
            wabas=onboarding_selectors.wabas_by_waba_id(waba_ids - {""}),
            numbers=onboarding_selectors.phone_numbers_by_id(number_ids),
        )

    def waba_for(self, event: WebhookEvent) -> WhatsAppBusinessAccount | None:
        if event.named_waba_id in self.wabas:
            return self.wabas[event.named_waba_id]
        number = self.numbers.get(event.phone_number_id)
        if number is not None:
            return number.waba
        return self.wabas.get(event.path_waba_id) if event.path_waba_id else None
