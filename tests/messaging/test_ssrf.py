"""The SSRF guard: the corpus is refused when a URL is saved and again at send time, after DNS
resolution; nothing reaches a canary listening on loopback; redirects are never followed.
"""

from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from messaging import ssrf
from messaging.models import DeliveryAttempt
from messaging.services.deliveries import tech_provider_event_deliver
from messaging.services.pump import deliveries_pump
from onboarding.models import TechProvider
from tests.conftest import Account
from tests.messaging.receiver import Receiver, Reply

pytestmark = pytest.mark.django_db

PUBLIC = "93.184.216.34"  # only ever returned by the fake resolver; never connected to


@pytest.fixture
def guarded(settings: Any) -> None:
    settings.WEBHOOK_ALLOW_LOOPBACK = False
    settings.WEBHOOK_ALLOW_HTTP = True  # so the address rules, not the scheme, are under test


@pytest.fixture
def canary() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.stop()


def corpus(port: int) -> list[str]:
    return [
        f"http://127.0.0.1:{port}/",
        f"http://[::1]:{port}/",
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/",
        f"http://0x7f000001:{port}/",
        f"http://2130706433:{port}/",
        f"http://0177.0.0.1:{port}/",
        f"http://127.1:{port}/",
        f"http://[::ffff:127.0.0.1]:{port}/",
        "http://[fd00::1]/",
        "http://[fe80::1]/",
        "http://[64:ff9b::7f00:1]/",
        "http://[2002:7f00:1::]/",
        "http://192.168.1.10/",
        "http://172.16.0.1/",
        "http://100.64.0.1/",
        "http://224.0.0.1/",
        "http://0.0.0.0/",
        "http://metadata.google.internal/computeMetadata/v1/",
        f"http://localhost:{port}/",
    ]


def test_the_corpus_is_refused_when_saved(
    guarded: None, api: APIClient, account: Account, canary: Receiver
) -> None:
    for url in corpus(canary.port):
        response = api.post(account.url("WhatsApp/Webhook/"), {"url": url}, format="json")
        assert response.status_code == 400, url
        assert response.json()["error"].startswith("url is not allowed"), url
    assert TechProvider.objects.get(pk=account.tech_provider.pk).webhook_url == ""
    assert canary.received == []


@pytest.mark.parametrize("index", range(20))
def test_the_corpus_is_refused_at_send_time(
    guarded: None, account: Account, canary: Receiver, index: int
) -> None:
    url = corpus(canary.port)[index]
    TechProvider.objects.filter(pk=account.tech_provider.pk).update(webhook_url=url)  # legacy row
    tech_provider = TechProvider.objects.get(pk=account.tech_provider.pk)
    delivery = tech_provider_event_deliver(tech_provider=tech_provider, event_type="t", data={})
    deliveries_pump(budget_s=3)
    attempt = DeliveryAttempt.objects.get(delivery=delivery)
    assert attempt.outcome == "blocked", url
    assert canary.received == []


def test_https_only_outside_debug(settings: Any) -> None:
    settings.WEBHOOK_ALLOW_HTTP = False
    with pytest.raises(ssrf.UrlRefused, match="https"):
        ssrf.callback_url_check("http://hooks.example.com/")
    for url in ["ftp://x.example.com/", "https://user:pw@x.example.com/", "https:///nohost"]:
        with pytest.raises(ssrf.UrlRefused):
            ssrf.callback_url_check(url)


def test_a_public_name_is_accepted_and_pinned(
    guarded: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: [PUBLIC])
    target = ssrf.callback_url_check("https://hooks.example.com:8443/a?b=1")
    assert (target.addresses, target.path, target.host_header) == (
        (PUBLIC,),
        "/a?b=1",
        "hooks.example.com:8443",
    )


def test_a_name_with_any_private_address_is_refused(
    guarded: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: [PUBLIC, "10.0.0.5"])
    with pytest.raises(ssrf.UrlRefused, match="internal"):
        ssrf.callback_url_check("https://hooks.example.com/")


def test_dns_rebinding_is_caught_at_send_time(
    guarded: None,
    api: APIClient,
    account: Account,
    canary: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers = iter([[PUBLIC], ["127.0.0.1"]])
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: next(answers))
    url = f"http://rebind.example.com:{canary.port}/hook"
    assert (
        api.post(account.url("WhatsApp/Webhook/"), {"url": url}, format="json").status_code == 200
    )
    tech_provider = TechProvider.objects.get(pk=account.tech_provider.pk)
    delivery = tech_provider_event_deliver(tech_provider=tech_provider, event_type="t", data={})
    deliveries_pump(budget_s=3)
    assert DeliveryAttempt.objects.get(delivery=delivery).outcome == "blocked"
    assert canary.received == []


def test_a_public_looking_url_that_redirects_to_loopback_is_not_followed(
    loopback: None,
    account: Account,
    receiver: Receiver,
    canary: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # hooks.example-tp.com "resolves" to the receiver, which answers 302 to the canary.
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: ["127.0.0.1"])
    receiver.reply = lambda request: Reply(302, {"Location": canary.url("/admin")})
    url = f"http://hooks.example-tp.com:{receiver.port}/hook"
    TechProvider.objects.filter(pk=account.tech_provider.pk).update(webhook_url=url)
    tech_provider = TechProvider.objects.get(pk=account.tech_provider.pk)
    delivery = tech_provider_event_deliver(tech_provider=tech_provider, event_type="t", data={})
    deliveries_pump(budget_s=3)
    attempt = DeliveryAttempt.objects.get(delivery=delivery)
    assert (attempt.outcome, attempt.status_code) == ("redirect", 302)
    assert receiver.received[0].headers["host"] == f"hooks.example-tp.com:{receiver.port}"
    assert canary.received == []
