/*
 * The sandbox's stand-in for Meta's JavaScript SDK (connect.facebook.net/en_US/sdk.js).
 *
 * Implements what Embedded Signup uses: FB.init({appId, version, ...}) and
 * FB.login(callback, {config_id, response_type: 'code', override_default_response_type: true,
 * extras: {...}}). FB.login opens the sandbox's signup dialog in a popup; the dialog posts
 * WA_EMBEDDED_SIGNUP messages to this page itself (origin: the sandbox's), and hands the code to
 * this script, which calls the callback with {authResponse: {code, ...}, status: "connected"}
 * (or {authResponse: null, status: "unknown"} when the person cancels or closes the window).
 * Like Meta's SDK, it calls window.fbAsyncInit once loaded. No inline script, no eval.
 */
(function () {
  "use strict";

  if (window.FB && window.FB.__sandbox) {
    return;
  }

  var script = document.currentScript;
  var sandboxOrigin = new URL(script ? script.src : "/", window.location.href).origin;
  var initOptions = null;
  var pending = null;

  function settle(response) {
    if (!pending) {
      return;
    }
    var callback = pending.callback;
    window.clearInterval(pending.timer);
    pending = null;
    callback(response);
  }

  function noLogin() {
    return { authResponse: null, status: "unknown" };
  }

  window.addEventListener("message", function (event) {
    if (!pending || event.origin !== sandboxOrigin || event.source !== pending.popup) {
      return;
    }
    var data = event.data;
    if (data && typeof data === "object" && data.fbSandboxLogin) {
      settle(data.fbSandboxLogin);
    }
  });

  function dialogUrl(options) {
    var query = new URLSearchParams({
      app_id: initOptions.appId,
      version: initOptions.version || "",
      config_id: options.config_id || "",
      response_type: options.response_type || "token",
      override_default_response_type: String(Boolean(options.override_default_response_type)),
      extras: JSON.stringify(options.extras || {}),
      origin: window.location.origin,
    });
    return sandboxOrigin + "/sandbox/dialog/oauth/?" + query.toString();
  }

  function watch(popup) {
    // A window closed without an answer (e.g. blocked scripts) still ends the login.
    return window.setInterval(function () {
      if (pending && pending.popup === popup && popup.closed) {
        window.setTimeout(function () {
          if (pending && pending.popup === popup) {
            settle(noLogin());
          }
        }, 500);
      }
    }, 250);
  }

  var FB = {
    __sandbox: true,

    init: function (options) {
      initOptions = options || {};
    },

    login: function (callback, options) {
      callback = typeof callback === "function" ? callback : function () {};
      if (!initOptions || !initOptions.appId) {
        if (window.console) {
          window.console.error("FB.login() called before FB.init() with an appId.");
        }
        callback(noLogin());
        return;
      }
      if (pending) {
        settle(noLogin()); // a new login replaces one still open
      }
      var popup = window.open(
        dialogUrl(options || {}),
        "fb_sandbox_embedded_signup",
        "popup=yes,width=620,height=780"
      );
      if (!popup) {
        callback(noLogin()); // blocked
        return;
      }
      pending = { popup: popup, callback: callback, timer: null };
      pending.timer = watch(popup);
    },

    getLoginStatus: function (callback) {
      if (typeof callback === "function") {
        callback(noLogin());
      }
    },

    logout: function (callback) {
      if (typeof callback === "function") {
        callback(noLogin());
      }
    },

    AppEvents: { logPageView: function () {}, logEvent: function () {} },
    XFBML: { parse: function () {} },
    Event: { subscribe: function () {}, unsubscribe: function () {} },
  };

  window.FB = FB;
  if (typeof window.fbAsyncInit === "function") {
    window.setTimeout(window.fbAsyncInit, 0);
  }
})();
