// What both pages share: the sign-in (Firebase Authentication's REST API,
// or the Auth emulator locally), calls to this service's API with the ID
// token, and errors in words. No framework and nothing fetched from
// elsewhere.
"use strict";

const saga = (() => {
  const SESSION = "saga.session";
  let config = null;

  async function loadConfig() {
    if (!config) {
      const res = await fetch("/pages/config.json");
      if (!res.ok) throw new Error("The page could not load its settings (HTTP " + res.status + "). Reload to try again.");
      config = await res.json();
    }
    return config;
  }

  function session() {
    try { return JSON.parse(localStorage.getItem(SESSION) || "null"); } catch { return null; }
  }
  function saveSession(s) { localStorage.setItem(SESSION, JSON.stringify(s)); }
  function signOut() { localStorage.removeItem(SESSION); }

  // Sign-in errors from Identity Toolkit, in words.
  const SIGN_IN_ERRORS = {
    EMAIL_NOT_FOUND: "No account has that e-mail address.",
    INVALID_PASSWORD: "The password is wrong.",
    INVALID_LOGIN_CREDENTIALS: "The e-mail address or the password is wrong.",
    USER_DISABLED: "This account is disabled.",
    INVALID_EMAIL: "That is not an e-mail address.",
    TOO_MANY_ATTEMPTS_TRY_LATER: "Too many attempts. Wait a minute and try again.",
    MISSING_PASSWORD: "Enter your password.",
  };

  async function signIn(email, password) {
    const c = await loadConfig();
    if (!c.api_key) throw new Error("Sign-in is not set up on this shop yet. Please try again later.");
    let res;
    try {
      res = await fetch(c.auth_url + "/accounts:signInWithPassword?key=" + encodeURIComponent(c.api_key), {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ email, password, returnSecureToken: true }),
      });
    } catch {
      throw new Error("The sign-in service cannot be reached. Check your connection and try again.");
    }
    const body = await res.json().catch(() => ({}));
    if (!res.ok) {
      const code = ((body.error && body.error.message) || "").split(" ")[0];
      throw new Error(SIGN_IN_ERRORS[code] || "Sign-in failed (" + (code || "HTTP " + res.status) + ").");
    }
    const s = { email: body.email, uid: body.localId, idToken: body.idToken, refreshToken: body.refreshToken,
      expiresAt: Date.now() + Number(body.expiresIn || 3600) * 1000 };
    saveSession(s);
    return s;
  }

  // A token with five minutes left is refreshed first. A refresh the
  // network interrupted is a fault to retry; only one refused ends the
  // session.
  async function idToken() {
    const s = session();
    if (!s) return null;
    if (Date.now() < s.expiresAt - 5 * 60 * 1000) return s.idToken;
    const c = await loadConfig();
    const res = await fetch(c.token_url + "/token?key=" + encodeURIComponent(c.api_key), {
      method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: "grant_type=refresh_token&refresh_token=" + encodeURIComponent(s.refreshToken),
    }).catch(() => null);
    if (!res || res.status >= 500) throw new ApiError(0, "network", "The sign-in service cannot be reached. Check your connection; we will keep trying.");
    if (!res.ok) { signOut(); return null; }
    const body = await res.json();
    Object.assign(s, { idToken: body.id_token, refreshToken: body.refresh_token, expiresAt: Date.now() + Number(body.expires_in || 3600) * 1000 });
    saveSession(s);
    return s.idToken;
  }

  // ApiError carries the contract's error code and the HTTP status.
  class ApiError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }

  // call sends a request to this service's API and returns {status, body}.
  // 4xx and 5xx become an ApiError with the service's message; 409 with an
  // order (a failed order) is an answer, not an error.
  async function call(method, path, body, headers = {}) {
    const token = await idToken();
    const h = Object.assign({}, headers);
    if (token) h.Authorization = "Bearer " + token;
    if (body !== undefined) h["Content-Type"] = "application/json";
    let res;
    try {
      res = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch {
      throw new ApiError(0, "network", "The shop cannot be reached. Check your connection; we will keep trying.");
    }
    const data = await res.json().catch(() => ({}));
    if (res.ok || (res.status === 409 && data.order_id)) return { status: res.status, body: data };
    const err = data.error || {};
    if (res.status === 401) signOut();
    throw new ApiError(res.status, err.code || "http_" + res.status, errorText(res.status, err));
  }

  function errorText(status, err) {
    if (status === 401) return "Please sign in again: your session has ended.";
    if (err.code === "shop_unavailable") return "The shop cannot show your points and tickets right now. Please try again later.";
    if (status === 403) return err.message || "You are not allowed to do that.";
    if (status >= 500) return (err.message && err.code !== "internal" ? err.message : "Something went wrong on our side.") + " Please try again in a moment.";
    return err.message || "The request was refused (HTTP " + status + ").";
  }

  // The error element stays in the page (empty when there is none), so
  // screen readers announce a new message.
  function showError(el, message) {
    el.textContent = message;
  }

  // el builds an element: el("td", {class: "num"}, "text", child...).
  function el(tag, attrs = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === false || v === null || v === undefined) continue;
      if (k === "text") e.textContent = v; else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) e.append(c);
    return e;
  }

  function when(iso) {
    const d = new Date(iso);
    return isNaN(d) ? "" : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  // Sign-in form handling shared by both pages.
  async function wireSignIn(form, errorEl, onSignedIn) {
    const c = await loadConfig();
    if (c.demo_email) {
      form.email.value = c.demo_email;
      form.password.value = c.demo_password;
      const hint = document.getElementById("demo-hint");
      if (hint) hint.hidden = false;
    }
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      showError(errorEl, "");
      if (!form.email.value || !form.password.value) {
        showError(errorEl, "Enter your e-mail address and your password.");
        return;
      }
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        await signIn(form.email.value.trim(), form.password.value);
        await onSignedIn();
      } catch (e) {
        showError(errorEl, e.message);
      } finally {
        button.disabled = false;
      }
    });
  }

  return { loadConfig, session, signIn, signOut, call, ApiError, showError, el, when, wireSignIn };
})();
