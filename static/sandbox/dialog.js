/*
 * The sandbox's Embedded Signup dialog (opened by /sandbox/sdk.js in a popup).
 *
 * Walks a person through business, WhatsApp Business account and phone number, then asks the
 * sandbox to finish the signup, posts Meta's WA_EMBEDDED_SIGNUP message (a JSON string) to the
 * opener, and hands {authResponse: {code}} back to the SDK for the FB.login callback. Cancelling
 * at any step, closing the window, or reporting a problem posts what Meta posts in those cases.
 */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("dialog-config").textContent);
  var STEPS = [
    "BUSINESS_ACCOUNT_SELECTION",
    "WABA_SELECTION",
    "PHONE_NUMBER_SETUP",
    "PHONE_NUMBER_VERIFICATION",
    "REVIEW",
  ];
  var state = { step: STEPS[0], finished: false, busy: false, reporting: false };
  var sessionId = "sbx-" + Math.random().toString(36).slice(2, 12);

  function byId(id) {
    return document.getElementById(id);
  }

  // ---------------------------------------------------------------- talking to the opener

  function postToOpener(message) {
    if (window.opener && !window.opener.closed && config.openerOrigin) {
      window.opener.postMessage(message, config.openerOrigin);
    }
  }

  function sendSession(event, data) {
    var message = { data: data, type: "WA_EMBEDDED_SIGNUP", event: event, version: 3 };
    if (config.sessionInfoVersion) {
      var asNumber = Number(config.sessionInfoVersion);
      message.version = isNaN(asNumber) ? config.sessionInfoVersion : asNumber;
    }
    postToOpener(JSON.stringify(message)); // Meta posts a JSON string
  }

  function sendLogin(response) {
    postToOpener({ fbSandboxLogin: response }); // read by sdk.js only
  }

  function noLogin() {
    return { authResponse: null, status: "unknown" };
  }

  function closeSoon(delay) {
    window.setTimeout(function () {
      window.close();
    }, delay);
  }

  // ---------------------------------------------------------------- the invalid-app page

  if (!config.appId) {
    byId("close-button").addEventListener("click", function () {
      state.finished = true;
      sendLogin(noLogin());
      window.close();
    });
    window.addEventListener("pagehide", function () {
      if (!state.finished) {
        sendLogin(noLogin());
      }
    });
    document.body.dataset.ready = "true";
    return;
  }

  // ---------------------------------------------------------------- choices

  function checked(name) {
    var input = document.querySelector('input[name="' + name + '"]:checked');
    return input ? input.value : "new";
  }

  function currentBusiness() {
    var id = checked("business");
    return config.customers.filter(function (b) {
      return b.id === id;
    })[0];
  }

  function currentWaba() {
    var business = currentBusiness();
    var id = checked("waba");
    return business
      ? business.wabas.filter(function (w) {
          return w.id === id;
        })[0]
      : undefined;
  }

  function option(name, value, label, detail) {
    var wrapper = document.createElement("label");
    wrapper.className = "option";
    var input = document.createElement("input");
    input.type = "radio";
    input.name = name;
    input.value = value;
    input.id = name + "-" + value;
    var text = document.createElement("span");
    text.textContent = label;
    if (detail) {
      var small = document.createElement("small");
      small.textContent = detail;
      text.append(" ", small);
    }
    wrapper.append(input, text);
    return wrapper;
  }

  function fill(containerId, name, items) {
    var container = byId(containerId);
    container.replaceChildren();
    items.forEach(function (item) {
      container.append(option(name, item.value, item.label, item.detail));
    });
    byId(name + "-new").checked = true;
    toggleNewFields();
  }

  function renderBusinesses() {
    fill(
      "business-options",
      "business",
      config.customers.map(function (b) {
        return { value: b.id, label: b.name, detail: b.id };
      })
    );
  }

  function renderWabas() {
    var business = currentBusiness();
    var wabas = business ? business.wabas : [];
    fill(
      "waba-options",
      "waba",
      wabas.map(function (w) {
        return { value: w.id, label: w.name, detail: w.id };
      })
    );
    byId("waba-name").value = (business ? business.name : byId("business-name").value) + " WhatsApp";
  }

  function renderPhones() {
    var waba = currentWaba();
    var phones = waba ? waba.phones : [];
    fill(
      "phone-options",
      "phone",
      phones.map(function (p) {
        return { value: p.id, label: "+" + p.display, detail: p.verified_name };
      })
    );
    var business = currentBusiness();
    byId("phone-verified-name").value = business ? business.name : byId("business-name").value;
    if (!byId("phone-display").value) {
      // A ready-made test number, so that Continue alone completes the dialog.
      var digits = String(Math.floor(Math.random() * 1e7)).padStart(7, "0");
      byId("phone-display").value = "+1 555 " + digits.slice(0, 3) + " " + digits.slice(3);
    }
    var coexistence = config.finishEvent === "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING";
    byId("phone-heading").textContent = coexistence
      ? "Connect your WhatsApp Business app"
      : "Add a phone number";
    byId("phone-new-label").textContent = coexistence
      ? "Connect the number of your WhatsApp Business app"
      : "Add a new phone number";
    byId("phone-hint").textContent = coexistence
      ? "Your chats stay in the app; the number is also connected to the Cloud API."
      : "This number will send and receive WhatsApp messages for your business.";
    byId("phone-none-option").hidden = coexistence;
  }

  function toggleNewFields() {
    document.querySelectorAll(".new-fields").forEach(function (fields) {
      var radio = byId(fields.dataset.when);
      fields.hidden = !(radio && radio.checked);
    });
  }

  // ---------------------------------------------------------------- steps

  function finishEvent() {
    if (config.finishEvent === "FINISH_ONLY_WABA" || checked("phone") === "none") {
      return "FINISH_ONLY_WABA";
    }
    return config.finishEvent;
  }

  function visibleSteps() {
    return STEPS.filter(function (step) {
      if (step === "PHONE_NUMBER_SETUP") {
        return config.finishEvent !== "FINISH_ONLY_WABA";
      }
      if (step === "PHONE_NUMBER_VERIFICATION") {
        return finishEvent() === "FINISH" && checked("phone") === "new";
      }
      return true;
    });
  }

  function showPanel(name) {
    document.querySelectorAll("[data-panel]").forEach(function (panel) {
      panel.hidden = panel.dataset.panel !== name;
    });
  }

  function show(step) {
    state.step = step;
    state.reporting = false;
    showPanel(step);
    var steps = visibleSteps();
    var index = steps.indexOf(step);
    byId("back-button").hidden = index <= 0;
    byId("next-button").textContent = step === "REVIEW" ? "Confirm" : "Continue";
    byId("report-button").hidden = false;
    document.querySelectorAll("[data-progress]").forEach(function (item) {
      var progress = item.dataset.progress;
      var at = progress === step || (progress === "PHONE_NUMBER_SETUP" && step === "PHONE_NUMBER_VERIFICATION");
      item.classList.toggle("current", at);
      item.hidden = steps.indexOf(progress) === -1;
      if (at) {
        item.setAttribute("aria-current", "step");
      } else {
        item.removeAttribute("aria-current");
      }
    });
    var first = document.querySelector('[data-panel="' + step + '"] input, [data-panel="' + step + '"] select');
    if (first) {
      first.focus();
    }
    if (step === "REVIEW") {
      renderSummary();
    }
  }

  function showError(message) {
    var box = byId("dialog-error");
    box.textContent = message || "";
    box.hidden = !message;
  }

  function validate(step) {
    if (step === "BUSINESS_ACCOUNT_SELECTION" && checked("business") === "new" && !byId("business-name").value.trim()) {
      return "Enter a business name.";
    }
    if (step === "WABA_SELECTION" && checked("waba") === "new" && !byId("waba-name").value.trim()) {
      return "Enter a name for the WhatsApp Business account.";
    }
    if (step === "PHONE_NUMBER_SETUP" && checked("phone") === "new") {
      var digits = byId("phone-display").value.replace(/[^0-9]/g, "");
      if (digits.length < 8 || digits.length > 15) {
        return "Enter the phone number with its country code (8 to 15 digits).";
      }
      if (!byId("phone-verified-name").value.trim()) {
        return "Enter the name customers will see.";
      }
    }
    if (step === "PHONE_NUMBER_VERIFICATION" && !/^[0-9]{6}$/.test(byId("verify-code").value)) {
      return "Enter the 6-digit code.";
    }
    return "";
  }

  function next() {
    var problem = validate(state.step);
    showError(problem);
    if (problem) {
      return;
    }
    if (state.step === "REVIEW") {
      return confirm();
    }
    if (state.step === "BUSINESS_ACCOUNT_SELECTION") {
      renderWabas();
    }
    if (state.step === "WABA_SELECTION") {
      renderPhones();
    }
    if (state.step === "PHONE_NUMBER_SETUP") {
      byId("verify-number").textContent = byId("phone-display").value;
    }
    var steps = visibleSteps();
    show(steps[steps.indexOf(state.step) + 1]);
  }

  function back() {
    showError("");
    if (state.reporting) {
      return show(state.step);
    }
    var steps = visibleSteps();
    var index = steps.indexOf(state.step);
    if (index > 0) {
      show(steps[index - 1]);
    }
  }

  function addRow(list, term, value) {
    var dt = document.createElement("dt");
    dt.textContent = term;
    var dd = document.createElement("dd");
    dd.textContent = value;
    list.append(dt, dd);
  }

  function renderSummary() {
    var summary = byId("review-summary");
    summary.replaceChildren();
    var business = currentBusiness();
    addRow(summary, "Business", business ? business.name : byId("business-name").value + " (new)");
    var waba = currentWaba();
    addRow(summary, "WhatsApp account", waba ? waba.name : byId("waba-name").value + " (new)");
    var event = finishEvent();
    if (event !== "FINISH_ONLY_WABA") {
      var phone = checked("phone");
      addRow(summary, "Phone number", phone === "new" ? byId("phone-display").value : phone);
    }
  }

  // ---------------------------------------------------------------- endings

  function payload() {
    var body = {
      app_id: config.appId,
      config_id: config.configId,
      event: finishEvent(),
      currency: byId("waba-currency").value,
    };
    var business = checked("business");
    if (business === "new") {
      body.business_name = byId("business-name").value.trim();
    } else {
      body.business_id = business;
    }
    var waba = checked("waba");
    if (waba === "new") {
      body.waba_name = byId("waba-name").value.trim();
    } else {
      body.waba_id = waba;
    }
    var phone = checked("phone");
    if (body.event !== "FINISH_ONLY_WABA") {
      if (phone === "new") {
        body.display_phone_number = byId("phone-display").value;
        body.verified_name = byId("phone-verified-name").value.trim();
      } else {
        body.phone_number_id = phone;
      }
    }
    return body;
  }

  function done(title, detail) {
    state.finished = true;
    showPanel("DONE");
    byId("actions").hidden = true;
    byId("done-title").textContent = title;
    byId("done-detail").textContent = detail;
    document.body.dataset.result = title;
  }

  function confirm() {
    if (state.busy) {
      return;
    }
    state.busy = true;
    byId("next-button").disabled = true;
    fetch(config.completeUrl, {
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
      .then(function (answer) {
        if (!answer.ok) {
          throw new Error(answer.body.error || "The signup could not be finished.");
        }
        finished(answer.body);
      })
      .catch(function (error) {
        state.busy = false;
        byId("next-button").disabled = false;
        showError(error.message);
      });
  }

  function finished(body) {
    var session = body.session_info;
    var login = {
      authResponse: {
        code: body.code,
        userID: body.user_id,
        expiresIn: body.expires_in,
        graphDomain: "facebook",
      },
      status: "connected",
    };
    done("You're all set", "Your WhatsApp Business account is connected. This window closes itself.");
    if (byId("callback-first").checked) {
      sendLogin(login);
      sendSession(session.event, session.data);
    } else {
      sendSession(session.event, session.data);
      sendLogin(login);
    }
    closeSoon(800);
  }

  function cancel() {
    if (state.finished) {
      return;
    }
    sendSession("CANCEL", { current_step: state.step });
    sendLogin(noLogin());
    done("Signup cancelled", "Nothing was shared. You can close this window.");
    closeSoon(300);
  }

  function report() {
    state.reporting = true;
    showPanel("REPORT");
    byId("report-button").hidden = true;
    byId("back-button").hidden = false;
    byId("next-button").textContent = "Send report";
    byId("report-message").focus();
  }

  function sendReport() {
    var message = byId("report-message").value.trim() || "The user reported a problem.";
    var data = {
      error_message: message,
      error_code: "SANDBOX_USER_REPORTED",
      session_id: sessionId,
      timestamp: Date.now(),
    };
    sendSession(byId("report-as-error").checked ? "ERROR" : "CANCEL", data);
    sendLogin(noLogin());
    done("Thanks for telling us", "Your report was sent. You can close this window.");
    closeSoon(300);
  }

  // ---------------------------------------------------------------- wiring

  config.currencies.forEach(function (currency) {
    var choice = document.createElement("option");
    choice.value = currency;
    choice.textContent = currency;
    byId("waba-currency").append(choice);
  });
  byId("waba-currency").value = "USD";

  byId("dialog-form").addEventListener("submit", function (event) {
    event.preventDefault();
    if (state.reporting) {
      return sendReport();
    }
    next();
  });
  byId("dialog-form").addEventListener("change", toggleNewFields);
  byId("back-button").addEventListener("click", back);
  byId("cancel-button").addEventListener("click", cancel);
  byId("report-button").addEventListener("click", report);
  function leaving() {
    // Closing the window mid-flow is a cancel at the current step, as with Meta's dialog.
    if (!state.finished) {
      state.finished = true;
      sendSession("CANCEL", { current_step: state.step });
      sendLogin(noLogin());
    }
  }
  window.addEventListener("beforeunload", leaving);
  window.addEventListener("pagehide", leaving);

  renderBusinesses();
  show(STEPS[0]);
  document.body.dataset.ready = "true";
})();
