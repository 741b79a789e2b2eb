"""The SDK stand-in and the signup dialog, driven in Debian's Chromium with Playwright.

The opener is a page on another origin with a strict nonce CSP, like the Connect page: it loads
/sandbox/sdk.js, calls FB.init and FB.login, and records every message and callback. Each test
saves a screenshot of its final state under test-artifacts/sandbox/.
"""

import contextlib
import html
import json
import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.db import connections

from sandbox.models import SandboxPhoneNumber, SandboxWaba
from tests.sandbox.conftest import Graph, exchange, free_port

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not shutil.which("chromium"), reason="Debian's chromium is not installed"),
]
SHOTS = Path(settings.BASE_DIR) / "test-artifacts" / "sandbox"
NONCE = "test-nonce-4f2a"

OPENER = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Opener</title></head>
<body><button id="connect" type="button">Connect WhatsApp</button>
<script nonce="{nonce}">
window.events = []; window.logins = []; window.violations = []; window.seen = 0;
document.addEventListener("securitypolicyviolation", function (e) {{
  window.violations.push(e.violatedDirective + " " + e.blockedURI);
}});
window.addEventListener("message", function (e) {{
  if (e.origin !== {sandbox}) return;
  if (typeof e.data !== "string") return;
  var data = JSON.parse(e.data);
  if (data.type !== "WA_EMBEDDED_SIGNUP") return;
  window.events.push({{origin: e.origin, data: data, at: window.seen++}});
}});
window.fbAsyncInit = function () {{
  FB.init({{appId: {app_id}, autoLogAppEvents: true, xfbml: true, version: "v26.0"}});
  document.body.dataset.sdk = "ready";
}};
document.getElementById("connect").addEventListener("click", function () {{
  FB.login(function (response) {{ window.logins.push({{response: response, at: window.seen++}}); }},
    {{config_id: "800000000000001", response_type: "code", override_default_response_type: true,
      extras: {extras}}});
}});
</script>
<script nonce="{nonce}" src="{sdk}" crossorigin="anonymous" async></script>
</body></html>"""


@pytest.fixture
def opener_server(live_server: Any) -> Iterator[str]:
    """Serves the opener page from another origin, with a CSP that allows only the nonce and
    the sandbox's origin for scripts."""
    sandbox = live_server.url

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            page = OPENER.format(
                nonce=NONCE,
                sandbox=json.dumps(sandbox),
                sdk=html.escape(f"{sandbox}/sandbox/sdk.js"),
                app_id=json.dumps(query.get("app_id", settings.SANDBOX_APP_ID)),
                extras=query.get("extras", '{"setup": {}, "sessionInfoVersion": "3"}'),
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header(
                "Content-Security-Policy",
                f"default-src 'none'; script-src 'nonce-{NONCE}' {sandbox}; "
                "style-src 'none'; connect-src 'none'; frame-ancestors 'none'",
            )
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One browser for the module (each test gets its own context)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs a loop
        with playwright_api.sync_playwright() as playwright:
            launched = playwright.chromium.launch(executable_path=shutil.which("chromium"))
            yield launched
            launched.close()


@pytest.fixture
def browser(chromium: Any) -> Iterator[Any]:
    yield chromium
    for context in chromium.contexts:
        context.close()
    # While Playwright's loop runs, Django keys connections by context, not thread: the
    # test's queries used a connection of their own, which must be closed here.
    connections.close_all()


class Flow:
    """The opener page, the dialog popup, and what each reported."""

    def __init__(self, browser: Any, url: str) -> None:
        self.context = browser.new_context()
        self.console: list[str] = []
        self.page = self.context.new_page()
        self.page.on("console", self._console)
        self.page.goto(url)
        self.page.wait_for_selector("body[data-sdk=ready]")
        with self.page.expect_popup() as popup:
            self.page.click("#connect")
        self.dialog = popup.value
        self.dialog.on("console", self._console)
        self.dialog.wait_for_selector("body[data-ready=true]")

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.console.append(message.text)

    def continue_(self, times: int = 1) -> None:
        for _ in range(times):
            self.dialog.click("#next-button")

    def close_dialog(self) -> None:
        """Press Close, whose handler closes the window: the page can be gone before Playwright
        hears back from the click, which it reports as an error. The window closing is what
        counts, so that is what is awaited."""
        # a click that truly failed leaves the window open, and expect_event times out
        with self.dialog.expect_event("close"), contextlib.suppress(playwright_api.Error):
            self.dialog.click("#close-button")

    def wait_until(self, expression: str, timeout: float = 10.0) -> None:
        """Poll the opener (wait_for_function would need 'unsafe-eval', which its CSP forbids)."""
        deadline = time.monotonic() + timeout
        while not self.page.evaluate(f"() => Boolean({expression})"):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {expression}")
            time.sleep(0.05)

    def wait_for_login(self) -> dict[str, Any]:
        self.wait_until("window.logins.length > 0")
        return self.page.evaluate("() => window.logins[0]")

    def events(self) -> list[dict[str, Any]]:
        return self.page.evaluate("() => window.events")

    def shoot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        target = self.dialog if not self.dialog.is_closed() else self.page
        target.screenshot(path=str(SHOTS / f"{name}.png"))
        print(f"screenshot: {SHOTS / name}.png")

    def csp_violations(self) -> list[str]:
        return self.page.evaluate("() => window.violations") + [
            text for text in self.console if "Content Security Policy" in text
        ]


def test_a_person_completes_the_dialog_and_the_opener_gets_the_session_then_the_code(
    browser: Any, opener_server: str, live_server: Any
):
    flow = Flow(browser, opener_server)
    flow.dialog.fill("#business-name", "Browser Bakery")
    flow.continue_()  # business -> WABA
    flow.dialog.wait_for_selector('[data-panel="WABA_SELECTION"]:not([hidden])')
    flow.continue_()  # WABA -> phone
    flow.dialog.fill("#phone-display", "+1 555 010 7788")
    flow.continue_()  # phone -> verification
    flow.dialog.wait_for_selector('[data-panel="PHONE_NUMBER_VERIFICATION"]:not([hidden])')
    flow.continue_()  # verification -> review
    flow.dialog.wait_for_selector('[data-panel="REVIEW"]:not([hidden])')
    flow.shoot("finish-review")
    flow.continue_()  # confirm
    login = flow.wait_for_login()
    (event,) = flow.events()
    assert event["origin"] == live_server.url
    assert event["data"]["type"] == "WA_EMBEDDED_SIGNUP"
    assert event["data"]["event"] == "FINISH"
    assert event["data"]["version"] == 3
    data = event["data"]["data"]
    assert event["at"] < login["at"]  # the session message first, by default
    assert login["response"]["status"] == "connected"
    code = login["response"]["authResponse"]["code"]
    flow.shoot("finish-opener")
    assert flow.csp_violations() == []

    waba = SandboxWaba.objects.get(waba_id=data["waba_id"])
    assert waba.business.name == "Browser Bakery"
    phone = SandboxPhoneNumber.objects.get(phone_number_id=data["phone_number_id"])
    assert phone.display_phone_number == "15550107788"
    token = exchange(code)
    assert Graph(token).get(data["waba_id"]).status_code == 200


def test_the_code_can_reach_the_callback_before_the_session_message(
    browser: Any, opener_server: str
):
    flow = Flow(browser, opener_server)
    flow.continue_(4)
    flow.dialog.click("details.advanced summary")
    flow.dialog.check("#callback-first")
    flow.continue_()
    login = flow.wait_for_login()
    flow.wait_until("window.events.length > 0")
    assert login["at"] < flow.events()[0]["at"]
    flow.shoot("callback-first")


def test_cancelling_at_the_phone_step_posts_cancel_with_the_step(browser: Any, opener_server: str):
    flow = Flow(browser, opener_server)
    flow.continue_(2)
    flow.dialog.wait_for_selector('[data-panel="PHONE_NUMBER_SETUP"]:not([hidden])')
    flow.shoot("cancel-phone-step")
    flow.dialog.click("#cancel-button")
    login = flow.wait_for_login()
    assert login["response"] == {"authResponse": None, "status": "unknown"}
    (event,) = flow.events()
    assert event["data"]["event"] == "CANCEL"
    assert event["data"]["data"] == {"current_step": "PHONE_NUMBER_SETUP"}
    assert not SandboxWaba.objects.exists()


def test_closing_the_window_is_a_cancel_at_the_current_step(browser: Any, opener_server: str):
    flow = Flow(browser, opener_server)
    flow.continue_()
    flow.dialog.wait_for_selector('[data-panel="WABA_SELECTION"]:not([hidden])')
    flow.dialog.close(run_before_unload=True)
    login = flow.wait_for_login()
    assert login["response"]["authResponse"] is None
    flow.wait_until("window.events.length > 0")
    assert flow.events()[0]["data"]["data"] == {"current_step": "WABA_SELECTION"}
    flow.shoot("closed-window")


def test_a_reported_problem_is_an_error_event_with_its_message(browser: Any, opener_server: str):
    flow = Flow(browser, opener_server)
    flow.dialog.click("#report-button")
    flow.dialog.fill("#report-message", "My number is already on another account")
    flow.dialog.check("#report-as-error")
    flow.shoot("report-problem")
    flow.continue_()
    flow.wait_for_login()
    (event,) = flow.events()
    assert event["data"]["event"] == "ERROR"
    data = event["data"]["data"]
    assert data["error_message"] == "My number is already on another account"
    assert data["session_id"]
    assert data["error_code"]
    assert isinstance(data["timestamp"], int)


def test_a_reported_problem_is_a_cancel_with_error_message_by_default(
    browser: Any, opener_server: str
):
    flow = Flow(browser, opener_server)
    flow.dialog.click("#report-button")
    flow.continue_()
    flow.wait_for_login()
    event = flow.events()[0]["data"]
    assert event["event"] == "CANCEL"
    assert event["data"]["error_message"]


def test_only_waba_sharing_finishes_without_a_number(browser: Any, opener_server: str):
    extras = json.dumps({"setup": {}, "featureType": "only_waba_sharing"})
    flow = Flow(browser, f"{opener_server}/?extras={extras}")
    flow.continue_(2)
    flow.dialog.wait_for_selector('[data-panel="REVIEW"]:not([hidden])')
    flow.continue_()
    login = flow.wait_for_login()
    assert login["response"]["authResponse"]["code"]
    event = flow.events()[0]["data"]
    assert event["event"] == "FINISH_ONLY_WABA"
    assert "phone_number_id" not in event["data"]
    assert event["version"] == 3


def test_coexistence_connects_a_business_app_number(browser: Any, opener_server: str):
    extras = json.dumps(
        {"setup": {}, "featureType": "whatsapp_business_app_onboarding", "sessionInfoVersion": "3"}
    )
    flow = Flow(browser, f"{opener_server}/?extras={extras}")
    flow.continue_(2)
    flow.dialog.fill("#phone-display", "+91 98000 55555")
    flow.continue_()
    flow.dialog.wait_for_selector('[data-panel="REVIEW"]:not([hidden])')  # no code to enter
    flow.continue_()
    flow.wait_for_login()
    event = flow.events()[0]["data"]
    assert event["event"] == "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING"
    phone = SandboxPhoneNumber.objects.get(phone_number_id=event["data"]["phone_number_id"])
    assert phone.is_coexistence


def test_a_returning_customer_picks_its_existing_assets(browser: Any, opener_server: str):
    first = (
        Graph()
        .client.post(
            "/sandbox/control/signups/",
            {"business_name": "Old Shop"},
            content_type="application/json",
        )
        .json()
    )
    flow = Flow(browser, opener_server)
    flow.dialog.check(f"#business-{first['business_id']}")
    flow.continue_()
    flow.dialog.check(f"#waba-{first['waba_id']}")
    flow.continue_()
    flow.dialog.check(f"#phone-{first['phone_number_id']}")
    flow.continue_()
    flow.dialog.wait_for_selector('[data-panel="REVIEW"]:not([hidden])')
    flow.continue_()
    flow.wait_for_login()
    data = flow.events()[0]["data"]["data"]
    assert (data["waba_id"], data["phone_number_id"]) == (
        first["waba_id"],
        first["phone_number_id"],
    )


def test_an_unknown_app_id_gets_the_error_page(browser: Any, opener_server: str):
    flow = Flow(browser, f"{opener_server}/?app_id=123")
    assert "Invalid App ID" in flow.dialog.inner_text("body")
    flow.shoot("invalid-app")
    flow.close_dialog()
    login = flow.wait_for_login()
    assert login["response"]["authResponse"] is None
    assert flow.events() == []


def test_validation_keeps_the_person_on_the_step(browser: Any, opener_server: str):
    flow = Flow(browser, opener_server)
    flow.continue_(2)
    flow.dialog.fill("#phone-display", "12")
    flow.continue_()
    assert "country code" in flow.dialog.inner_text("#dialog-error")
    assert flow.dialog.is_visible('[data-panel="PHONE_NUMBER_SETUP"]')
