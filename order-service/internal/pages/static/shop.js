// The buyer's page: sign in, see your points, what is on sale and what you
// own, buy, and watch the order until it ends (the API's long-poll: each
// GET /orders/{id}?wait=25s answers the moment the order ends).
"use strict";

(() => {
  const { call, el, when, showError } = saga;
  const $ = (id) => document.getElementById(id);
  const errorEl = $("error");
  let catalog = [];
  let busy = false;

  const REASONS = {
    sold_out: "Sold out: there were not enough tickets left.",
    insufficient_points: "You do not have enough points.",
    unknown_account: "You have no points account yet.",
    unknown_ticket: "This ticket is no longer on sale.",
    price_mismatch: "The price has changed. The list is updated; check it and try again.",
    timeout: "It took too long, so it was cancelled.",
  };
  const EVENTS = {
    "started-order": "Order placed", "consumed-point": "Points taken", "failed-point": "Points not taken",
    "granted-ticket": "Tickets issued", "failed-ticket": "Tickets not issued", "refunded-point": "Points given back",
    "stopped-order": "Order stopped (took too long)", "canceled-ticket": "Tickets released",
  };

  function showSignedIn(s) {
    $("sign-in-section").hidden = !!s;
    $("shop").hidden = !s;
    $("who").hidden = !s;
    $("who-email").textContent = s ? s.email : "";
  }

  async function refresh() {
    try {
      const [me, cat] = await Promise.all([call("GET", "/me"), call("GET", "/catalog")]);
      renderMe(me.body);
      catalog = cat.body.tickets;
      renderCatalog();
    } catch (e) {
      handle(e);
    }
  }

  function renderMe(me) {
    $("balance").textContent = me.balance === null ? "No points account" : me.balance.toLocaleString() + " points";
    const owned = $("owned");
    owned.replaceChildren(...me.tickets.map((t) => el("li", { "data-owned": t.ticket_id, text: t.ticket_id + " × " + t.count })));
    $("owned-empty").hidden = me.tickets.length > 0;
  }

  function renderCatalog() {
    const body = $("catalog");
    body.replaceChildren(...catalog.map((t, i) => {
      const qty = el("input", { id: "qty-" + i, type: "number", min: "1", max: String(Math.max(1, Math.min(t.stock, 100))), value: "1", inputmode: "numeric" });
      const buy = el("button", { type: "button", "data-buy": t.ticket_id, disabled: t.stock === 0 || busy, text: t.stock === 0 ? "Sold out" : "Buy",
        "aria-label": (t.stock === 0 ? "Sold out: " : "Buy ") + t.ticket_id });
      buy.addEventListener("click", () => purchase(t, qty));
      return el("tr", { "data-ticket": t.ticket_id },
        el("th", { scope: "row", text: t.ticket_id }),
        el("td", { class: "num", text: t.price.toLocaleString() + " pts" }),
        el("td", { class: "num", text: t.stock.toLocaleString() }),
        el("td", {}, el("label", { for: "qty-" + i, class: "sr-only", text: "Quantity of " + t.ticket_id }), qty),
        el("td", {}, buy));
    }));
    $("catalog-empty").hidden = catalog.length > 0;
  }

  function setBusy(b) {
    busy = b;
    for (const button of document.querySelectorAll("[data-buy]")) {
      const t = catalog.find((c) => c.ticket_id === button.dataset.buy);
      button.disabled = b || !t || t.stock === 0;
    }
  }

  async function purchase(t, qtyInput) {
    showError(errorEl, "");
    const quantity = Number(qtyInput.value);
    if (!Number.isInteger(quantity) || quantity < 1) {
      showError(errorEl, "Enter how many tickets you want: a whole number, at least 1.");
      qtyInput.focus();
      return;
    }
    setBusy(true);
    const request = { ticket_id: t.ticket_id, quantity, price: quantity * t.price };
    try {
      // One key per purchase: if the answer is lost and we ask again, the
      // shop finds the same order and never charges twice.
      const key = newKey();
      let res = await retrying(() => call("POST", "/orders?wait=0s", request, { "Idempotency-Key": key }));
      showOrder(res.body);
      $("order").scrollIntoView({ block: "nearest" });
      $("order-h").focus();
      while (res.body.status === "pending") {
        const id = res.body.order_id;
        res = await retrying(() => call("GET", "/orders/" + encodeURIComponent(id) + "?wait=25s"));
        showOrder(res.body);
      }
    } catch (e) {
      handle(e);
    } finally {
      setBusy(false);
      await refresh();
    }
  }

  // newKey is a random Idempotency-Key (crypto.randomUUID needs a secure
  // origin; getRandomValues does not).
  function newKey() {
    if (crypto.randomUUID) return crypto.randomUUID();
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // retrying repeats a call the network or a fault interrupted, with the
  // same request (and so the same Idempotency-Key): at most 5 times.
  async function retrying(f) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await f();
      } catch (e) {
        if (!(e instanceof saga.ApiError) || (e.status !== 0 && e.status < 500) || attempt >= 5) throw e;
        showError(errorEl, e.message);
        await new Promise((r) => setTimeout(r, 1000 * attempt));
        showError(errorEl, "");
      }
    }
  }

  function showOrder(o) {
    $("order").hidden = false;
    $("order-id").textContent = o.order_id;
    const status = $("order-status");
    status.className = "status " + o.status;
    const what = o.quantity + " × " + o.ticket_id + " for " + o.price.toLocaleString() + " points";
    const refunded = o.history.some((h) => h.event_type === "refunded-point");
    switch (o.status) {
      case "pending":
        status.textContent = "Pending: " + what;
        $("order-note").textContent = "Working on it. This page updates by itself.";
        break;
      case "completed":
        status.textContent = "Completed: " + what;
        $("order-note").textContent = "Your tickets are yours. " + o.price.toLocaleString() + " points were paid.";
        break;
      default:
        status.textContent = (o.status === "failed" ? "Failed: " : "Cancelled: ") + (REASONS[o.reason] || o.reason);
        $("order-note").textContent = refunded ? "Your " + o.price.toLocaleString() + " points are back." : "No points were taken.";
    }
    $("order-history").replaceChildren(...o.history.map((h) =>
      el("li", { text: when(h.at) + " — " + (EVENTS[h.event_type] || h.event_type) + " (" + h.service + ")" })));
  }

  function handle(e) {
    if (e instanceof saga.ApiError && e.status === 401) {
      showSignedIn(null);
      $("email").focus();
    }
    showError(errorEl, e.message || String(e));
  }

  async function start() {
    try {
      await saga.wireSignIn($("sign-in-form"), errorEl, async () => { showSignedIn(saga.session()); await refresh(); $("balance-h").focus(); });
    } catch (e) {
      showError(errorEl, e.message);
    }
    $("sign-out").addEventListener("click", () => { saga.signOut(); showSignedIn(null); $("email").focus(); });
    const s = saga.session();
    showSignedIn(s);
    if (s) await refresh();
  }
  start();
})();
