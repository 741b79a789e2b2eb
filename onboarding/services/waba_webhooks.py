"""Point a WABA's webhooks at us: subscribe our app, set the WABA's override URL, confirm."""

from django.conf import settings
from django.utils import timezone

from onboarding import crypto
from onboarding.graph import GraphClient
from onboarding.graph.types import SubscribedApp
from onboarding.models import OnboardingStep, WhatsAppBusinessAccount
from onboarding.services.faults import crash_point
from onboarding.services.meta import graph_client_for_waba, waba_callback_url
from onboarding.services.outcomes import StepFailed, StepOutcome, StepRetry

VERIFY_TOKEN_LENGTH = 40


def waba_verify_token(waba: WhatsAppBusinessAccount) -> str:
    """The WABA's webhook verify token: made once, stored encrypted, the same ever after."""
    if not waba.webhook_verify_token:
        waba.webhook_verify_token = crypto.random_token(VERIFY_TOKEN_LENGTH)
        waba.save(update_fields=["webhook_verify_token", "updated_at"])
    return waba.webhook_verify_token


def _our_app(client: GraphClient, waba_id: str) -> SubscribedApp | None:
    for app in client.list_subscribed_apps(waba_id):
        if app.app_id == settings.META_APP_ID:
            return app
    return None


def _save_progress(step: OnboardingStep, **progress: object) -> None:
    step.result = {**step.result, **progress}
    OnboardingStep.objects.filter(pk=step.pk).update(result=step.result)


def _mark_subscribed(waba: WhatsAppBusinessAccount) -> None:
    """Remember that our app is subscribed (offboarding then knows to unsubscribe it)."""
    waba.webhooks_subscribed_at = timezone.now()
    waba.save(update_fields=["webhooks_subscribed_at", "updated_at"])


def _done(step: OnboardingStep, waba: WhatsAppBusinessAccount, url: str) -> StepOutcome:
    if waba.webhooks_subscribed_at is None:
        _mark_subscribed(waba)
    return StepOutcome(
        result={"app_id": settings.META_APP_ID, "callback_uri": url, "app_subscribed": True}
    )


def waba_webhooks_subscribe(*, step: OnboardingStep, in_doubt: bool) -> StepOutcome:
    """Subscribe our app to the WABA, then set its override URL and verify token; confirm both.

    Meta refuses an override before the subscription, so the two POSTs go in that order and the
    first is remembered in the step's result. When a previous attempt ended without an answer we
    ask Meta first: an override already in place is taken as done.
    """
    waba = step.onboarding.waba
    url = waba_callback_url(waba)
    if step.result.get("callback_uri") == url and waba.webhooks_subscribed_at:
        return StepOutcome(result=step.result)
    if len(url) > 200:
        raise StepFailed(f"The callback URL {url} is longer than Meta's 200 characters.")
    client = graph_client_for_waba(waba)
    token = waba_verify_token(waba)
    if in_doubt:
        listed = _our_app(client, waba.waba_id)
        if listed is not None and listed.override_callback_uri == url:
            return _done(step, waba, url)
        _save_progress(step, app_subscribed=listed is not None)
        if listed is not None:
            _mark_subscribed(waba)
    if not step.result.get("app_subscribed"):
        client.subscribe_app(waba.waba_id)
        _save_progress(step, app_subscribed=True)
        _mark_subscribed(waba)
    client.subscribe_app(waba.waba_id, override_callback_uri=url, verify_token=token)
    crash_point(OnboardingStep.Name.SUBSCRIBE_WEBHOOKS)
    listed = _our_app(client, waba.waba_id)
    if listed is None or listed.override_callback_uri != url:
        raise StepRetry("Meta does not list our app with the WABA's callback URL yet.")
    return _done(step, waba, url)


def waba_webhooks_unsubscribe(*, waba: WhatsAppBusinessAccount) -> None:
    """Unsubscribe our app from the WABA's webhooks (offboarding)."""
    graph_client_for_waba(waba).unsubscribe_app(waba.waba_id)
    waba.webhooks_subscribed_at = None
    waba.save(update_fields=["webhooks_subscribed_at", "updated_at"])
