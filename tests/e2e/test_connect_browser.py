"""The hosted Connect WhatsApp page in a real browser: Debian's Chromium driven by Playwright.

The platform and the sandbox run under gunicorn, with a real Celery worker and beat on Redis;
the page loads the sandbox's SDK stand-in, a person completes (or cancels) the simulated dialog
in its popup, and the page shows the onboarding live. Each test saves a screenshot of its final
state under test-artifacts/connect/ and prints the path.
"""

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connections

from onboarding.models import Onboarding, SignupSession, TechProvider
from onboarding.selectors import signup_funnel
from onboarding.services.tech_providers import tech_provider_create
from tests.e2e.stack import ROOT, Stack

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not shutil.which("chromium"), reason="Debian's chromium is not installed"),
    pytest.mark.skipif(
        not settings.CELERY_BROKER_URL.startswith("redis")
        or "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="needs PostgreSQL and a Redis broker",
    ),
]

SHOTS = ROOT / "test-artifacts" / "connect"
STACK_ENV = {"SANDBOX_WEBHOOK_DISPATCH": "thread"}
# Records CSP violations before any page script runs (init scripts are not subject to the CSP).
WATCH_CSP = """
window.violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.violations.push(e.violatedDirective + " " + e.blockedURI);
});
"""
FORGED = {
    "type": "WA_EMBEDDED_SIGNUP",
    "event": "FINISH",
    "data": {"waba_id": "104996789012345", "phone_number_id": "1069999", "business_id": "2034567"},
}


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs a loop
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=shutil.which("chromium"),
            args=["--disable-background-networking", "--disable-component-update"],
        )
        yield chromium
        connections.close_all()
        chromium.close()


@pytest.fixture
def tech_provider(stack: Stack, transactional_db: None) -> Iterator[TechProvider]:
    stack.control("POST", "reset/")
    stack.start_worker()
    issued = tech_provider_create(
        name="Acme CRM",
        meta_app_id=settings.SANDBOX_APP_ID,
        meta_config_id=settings.SANDBOX_CONFIG_ID,
        meta_app_secret=settings.SANDBOX_APP_SECRET,
    )
    yield issued.tech_provider
    stack.stop_workers()


class ConnectPage:
    """The customer's tab on our Connect page, and the Meta dialog it opens."""

    def __init__(self, browser: Any, url: str) -> None:
        self.context = browser.new_context(viewport={"width": 900, "height": 900})
        self.context.add_init_script(WATCH_CSP)
        self.console: list[str] = []
        self.page = self.context.new_page()
        self.page.on("console", lambda message: self.console.append(message.text))
        self.page.goto(url)
        self.page.wait_for_selector("body[data-sdk=ready]")
        self.dialog: Any = None

    def connect(self) -> Any:
        with self.page.expect_popup() as popup:
            self.page.click("#connect-button")
        self.dialog = popup.value
        self.dialog.wait_for_selector("body[data-ready=true]")
        return self.dialog

    def dialog_to(self, panel: str) -> None:
        self.dialog.click("#next-button")
        self.dialog.wait_for_selector(f'[data-panel="{panel}"]:not([hidden])')

    def wait_until(self, expression: str, timeout: float = 60.0) -> None:
        """Poll the page (wait_for_function would need 'unsafe-eval', which our CSP forbids)."""
        deadline = time.monotonic() + timeout
        while not self.page.evaluate(f"() => Boolean({expression})"):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {expression}")
            time.sleep(0.1)

    def text(self, selector: str) -> str:
        return str(self.page.inner_text(selector))

    def shoot(self, name: str) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        print(f"\nscreenshot saved in {SHOTS}: {path.name}")  # noqa: T201 - the test says where
        return path

    def csp_violations(self) -> list[str]:
        reported = list(self.page.evaluate("() => window.violations"))
        return reported + [text for text in self.console if "Content Security Policy" in text]


def test_a_customer_connects_a_number_and_watches_it_become_active(
    stack: Stack, browser: Any, tech_provider: TechProvider
) -> None:
    tab = ConnectPage(browser, f"{stack.url}/connect/{tech_provider.public_id}/?reference=crm-42")
    dialog = tab.connect()
    dialog.fill("#business-name", "Browser Bakery")
    tab.dialog_to("WABA_SELECTION")
    tab.dialog_to("PHONE_NUMBER_SETUP")
    dialog.fill("#phone-display", "+1 555 010 4242")
    tab.dialog_to("PHONE_NUMBER_VERIFICATION")
    tab.dialog_to("REVIEW")
    dialog.click("#next-button")  # confirm

    tab.wait_until("document.body.dataset.onboarding === 'active'")
    time.sleep(0.3)  # let the status box's colour transition end before the screenshot
    tab.shoot("connected")
    assert tab.page.is_hidden("#connect-button")
    assert tab.text(".status-title") == "Your WhatsApp number is connected"
    assert tab.page.locator("#connect-steps li.step-succeeded").count() == 5
    assert tab.csp_violations() == []

    session = SignupSession.objects.select_related("waba").get(status="finished")
    assert session.waba is not None
    assert (session.event, session.reference) == ("FINISH", "crm-42")
    onboarding = Onboarding.objects.get(waba=session.waba)
    assert onboarding.status == Onboarding.Status.ACTIVE
    display = session.waba.phone_numbers.get().display_phone_number
    assert "".join(c for c in display if c.isdigit()) == "15550104242"
    assert len(stack.calls(endpoint="oauth.access_token")) == 1
    assert "csp violation" not in (stack.logs / "gunicorn.log").read_text(errors="replace")


def test_a_customer_who_cancels_at_the_phone_step_is_counted_in_the_funnel(
    stack: Stack, browser: Any, tech_provider: TechProvider
) -> None:
    tab = ConnectPage(browser, f"{stack.url}/connect/{tech_provider.public_id}/")
    dialog = tab.connect()
    tab.dialog_to("WABA_SELECTION")
    tab.dialog_to("PHONE_NUMBER_SETUP")
    dialog.click("#cancel-button")

    tab.wait_until("document.querySelector('.status-title').textContent.length > 0", 20)
    tab.shoot("cancelled-at-phone-step")
    assert tab.text(".status-title") == "Signup not finished"
    assert tab.text("#connect-button") == "Try again"
    assert tab.page.is_enabled("#connect-button")
    session = SignupSession.objects.get(submitted_at__isnull=False)
    assert (session.status, session.current_step) == ("cancelled", "PHONE_NUMBER_SETUP")
    funnel = signup_funnel(tech_provider=tech_provider)
    assert funnel["cancelled_by_step"] == {"PHONE_NUMBER_SETUP": 1}
    assert stack.calls(endpoint="oauth.access_token") == []
    assert tab.csp_violations() == []


def test_a_message_from_a_non_facebook_origin_is_ignored(
    stack: Stack, browser: Any, tech_provider: TechProvider
) -> None:
    # localhost and 127.0.0.1 are different origins: the attacker's page opens ours and posts.
    attacker = browser.new_context().new_page()
    attacker.goto(stack.url.replace("127.0.0.1", "localhost") + "/healthz")
    connect_url = f"{stack.url}/connect/{tech_provider.public_id}/"
    with attacker.expect_popup() as popup:
        attacker.evaluate(f"() => {{ window.victim = window.open({connect_url!r}); }}")
    page = popup.value
    page.wait_for_selector("body[data-sdk=ready]")
    attacker.evaluate(
        "(forged) => { window.victim.postMessage(JSON.stringify(forged), '*');"
        " window.victim.postMessage(forged, '*'); }",
        FORGED,
    )
    time.sleep(2)  # the page's grace period for a lone message is 1.5 s
    assert page.evaluate("() => document.body.dataset.lastEvent") is None
    assert page.is_hidden("#connect-status")
    assert not SignupSession.objects.filter(submitted_at__isnull=False).exists()

    # The same message from an allowed origin (the sandbox's, here the page's own) is taken.
    page.evaluate("(forged) => window.postMessage(JSON.stringify(forged), '*')", FORGED)
    deadline = time.monotonic() + 5
    while page.evaluate("() => document.body.dataset.lastEvent") != "FINISH":
        assert time.monotonic() < deadline, "the allowed origin's message was not taken"
        time.sleep(0.05)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "foreign-origin-ignored.png"))
    print(f"\nscreenshot saved in {SHOTS}: foreign-origin-ignored.png")  # noqa: T201
    assert not SignupSession.objects.filter(submitted_at__isnull=False).exists()
