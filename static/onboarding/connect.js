/*
 * The hosted "Connect WhatsApp" page: runs Meta's Embedded Signup and shows the onboarding live.
 *
 * The FB.login callback (with the 30-second, single-use code) and the WA_EMBEDDED_SIGNUP message
 * event (with the WABA, number and business ids) arrive independently and in either order. We
 * correlate them and POST exactly once, as soon as both are here, or after a short grace period
 * when only the code came (the server then reads the WABA from the token's granular scopes).
 */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("connect-config").textContent);
  var button = document.getElementById("connect-button");
  var statusBox = document.getElementById("connect-status");
  var stepsList = document.getElementById("connect-steps");
  var GRACE_MS = 1500;
  var POLL_MS = 1500;

  var state = { code: null, loginDone: false, session: null, posted: false, timer: null };

  function allowedOrigin(origin) {
    var url;
    try {
      url = new URL(origin);
    } catch (e) {
      return false;
    }
    if (config.sandboxOrigin && origin === config.sandboxOrigin) {
      return true;
    }
    var host = url.hostname;
    return url.protocol === "https:" && (host === "facebook.com" || host.endsWith(".facebook.com"));
  }

  function parseEvent(raw) {
    var data = raw;
    if (typeof raw === "string") {
      try {
        data = JSON.parse(raw);
      } catch (e) {
        return null; // the SDK posts non-JSON messages too
      }
    }
    if (!data || typeof data !== "object" || data.type !== "WA_EMBEDDED_SIGNUP") {
      return null;
    }
    return { event: String(data.event || ""), data: data.data || {} };
  }

  function show(kind, title, detail) {
    statusBox.hidden = false;
    statusBox.className = "status status-" + kind;
    statusBox.querySelector(".status-title").textContent = title;
    statusBox.querySelector(".status-detail").textContent = detail || "";
  }

  function isFinish(session) {
    return session && session.event.indexOf("FINISH") === 0;
  }

  function onMessage(event) {
    if (!allowedOrigin(event.origin)) {
      return;
    }
    var session = parseEvent(event.data);
    if (!session || state.posted) {
      return;
    }
    state.session = session;
    document.body.dataset.lastEvent = session.event;
    decide();
  }

  function onLogin(response) {
    state.loginDone = true;
    var auth = response && response.authResponse;
    state.code = auth && auth.code ? auth.code : null;
    decide();
  }

  function decide() {
    if (state.posted) {
      return;
    }
    if (state.code && isFinish(state.session)) {
      return submit();
    }
    if (state.session && !isFinish(state.session) && state.loginDone) {
      return submit(); // cancelled or errored: record where the customer stopped
    }
    if (state.loginDone && !state.timer) {
      // One side has not arrived: wait briefly for it, then post what we have.
      state.timer = window.setTimeout(submit, GRACE_MS);
    }
  }

  function payload() {
    var session = state.session || { event: "", data: {} };
    return {
      nonce: config.nonce,
      code: state.code,
      event: session.event || (state.code ? "" : "CANCEL"),
      data: session.data,
      reference: config.reference,
    };
  }

  function submit() {
    if (state.posted) {
      return;
    }
    state.posted = true;
    window.clearTimeout(state.timer);
    if (state.code) {
      show("working", "Connecting your number…", "Checking your signup with Meta.");
    }
    fetch(config.submitUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": config.csrfToken },
      body: JSON.stringify(payload()),
    })
      .then(function (response) {
        return response.json().then(function (body) {
          return { ok: response.ok, body: body };
        });
      })
      .then(handleAnswer, function () {
        show("failed", "We could not reach our server.", "Check your connection and try again.");
        allowRetry();
      });
  }

  function handleAnswer(answer) {
    var body = answer.body;
    if (answer.ok && body.status_url) {
      button.hidden = true;
      show("working", "Connecting your number…", body.message || "");
      return poll(body.status_url);
    }
    if (answer.ok) {
      show("cancelled", body.title || "Signup not finished", body.message || "");
    } else {
      show("failed", "We could not connect your number", body.error || "Please try again.");
    }
    allowRetry(body.nonce);
  }

  function allowRetry(nonce) {
    if (nonce) {
      config.nonce = nonce;
    }
    state = { code: null, loginDone: false, session: null, posted: false, timer: null };
    button.disabled = false;
    button.textContent = "Try again";
  }

  function renderSteps(steps) {
    stepsList.hidden = false;
    stepsList.replaceChildren();
    steps.forEach(function (step) {
      var item = document.createElement("li");
      item.className = "step step-" + step.status;
      item.dataset.step = step.name;
      var label = document.createElement("span");
      label.className = "step-label";
      label.textContent = step.label;
      var status = document.createElement("span");
      status.className = "step-status";
      status.textContent = step.status_label;
      item.append(label, status);
      if (step.note) {
        var note = document.createElement("p");
        note.className = "step-note";
        note.textContent = step.note;
        item.append(note);
      }
      stepsList.append(item);
    });
  }

  function poll(url) {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.json();
      })
      .then(function (body) {
        renderSteps(body.steps || []);
        document.body.dataset.onboarding = body.status;
        if (body.status === "active") {
          return show("done", "Your WhatsApp number is connected", body.message || "");
        }
        if (body.status === "failed") {
          return show("failed", "Connecting your number stopped", body.failure_reason || "");
        }
        show("working", "Connecting your number…", body.message || "");
        window.setTimeout(function () {
          poll(url);
        }, POLL_MS);
      })
      .catch(function () {
        window.setTimeout(function () {
          poll(url);
        }, POLL_MS * 2);
      });
  }

  function launch() {
    button.disabled = true;
    button.textContent = "Waiting for Meta…";
    var extras = { setup: config.setup || {}, sessionInfoVersion: config.sessionInfoVersion };
    if (config.featureType) {
      extras.featureType = config.featureType;
    }
    if (config.esVersion && config.esVersion !== "v4") {
      extras.version = config.esVersion;
    }
    window.FB.login(onLogin, {
      config_id: config.configId,
      response_type: "code",
      override_default_response_type: true,
      extras: extras,
    });
  }

  window.fbAsyncInit = function () {
    window.FB.init({ appId: config.appId, autoLogAppEvents: true, xfbml: false, version: config.graphVersion });
    button.disabled = false;
    document.body.dataset.sdk = "ready";
  };

  window.addEventListener("message", onMessage);
  button.addEventListener("click", launch);

  var sdk = document.createElement("script");
  sdk.src = config.sdkUrl;
  sdk.async = true;
  sdk.crossOrigin = "anonymous";
  sdk.nonce = config.cspNonce;
  document.head.append(sdk);
})();
