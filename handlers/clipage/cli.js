// Completes the CLI login: posts the form as JSON to the complete endpoint
// and shows the outcome. The API key in the answer is for the terminal, which
// receives it by polling; this page never shows or keeps it.
"use strict";

(function () {
  const form = document.getElementById("cli-form");
  if (!form) {
    return; // an error page: nothing to submit
  }
  const button = document.getElementById("submit");
  const errorBox = document.getElementById("error");
  const success = document.getElementById("success");
  const password = document.getElementById("password");
  // The expiry line only matters while the form can still be sent.
  const expiry = document.getElementById("expiry");

  // Codes after which this code can never be completed: the form goes.
  const final = new Set(["INVALID_CODE", "CODE_EXPIRED", "SESSION_USED"]);

  function showError(message, code) {
    errorBox.textContent = message;
    errorBox.dataset.code = code || "";
    errorBox.hidden = false;
    if (final.has(code)) {
      form.hidden = true;
      expiry.hidden = true;
    }
  }

  async function submit(event) {
    event.preventDefault();
    errorBox.hidden = true;
    button.disabled = true;
    const data = new FormData(form);
    const body = JSON.stringify({
      code: data.get("code"),
      email: data.get("email"),
      password: data.get("password"),
    });
    let resp;
    try {
      resp = await fetch(form.action, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: body,
        credentials: "omit",
        cache: "no-store",
        redirect: "error",
        referrerPolicy: "no-referrer",
      });
    } catch (err) {
      showError("The service could not be reached. Check your connection and try again.", "NETWORK");
      button.disabled = false;
      return;
    }
    let answer = null;
    try {
      answer = await resp.json();
    } catch (err) {
      answer = null;
    }
    if (resp.ok && answer && answer.success === true) {
      answer = null; // drop the key: the terminal fetches it itself
      form.reset();
      form.hidden = true;
      document.getElementById("warning").hidden = true;
      expiry.hidden = true;
      success.hidden = false;
      return;
    }
    const e = answer && answer.error;
    if (e && typeof e.message === "string") {
      let message = e.message;
      const retry = resp.headers.get("Retry-After");
      if (e.code === "RATE_LIMITED" && retry) {
        message += " Try again in " + retry + " second" + (retry === "1" ? "" : "s") + ".";
      }
      showError(message, e.code);
    } else {
      showError("The service answered with status " + resp.status + ". Try again.", "HTTP_" + resp.status);
    }
    password.value = "";
    button.disabled = false;
    if (!form.hidden) {
      password.focus();
    }
  }

  form.addEventListener("submit", submit);
})();
