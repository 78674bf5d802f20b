// The operator page: what is stuck, what was dead-lettered (and a redrive
// per group, to the one subscription that failed), the last
// reconciliations, and one order across the three services.
"use strict";

(() => {
  const { call, el, when, showError } = saga;
  const $ = (id) => document.getElementById(id);
  const errorEl = $("error");
  const API = "/ops/api/";

  function age(seconds) {
    if (seconds < 120) return seconds + " s";
    if (seconds < 7200) return Math.round(seconds / 60) + " min";
    return Math.round(seconds / 3600) + " h";
  }

  async function guarded(f) {
    showError(errorEl, "");
    try {
      await f();
    } catch (e) {
      if (e instanceof saga.ApiError && e.status === 401) showConsole(false);
      showError(errorEl, e.message || String(e));
    }
  }

  async function loadStuck() {
    const res = await call("GET", API + "stuck?older_than=" + encodeURIComponent($("older-than").value));
    const orders = res.body.orders;
    $("stuck").replaceChildren(...orders.map((o) => el("tr", { "data-order": o.order_id },
      el("td", {}, timelineLink(o.order_id)),
      el("td", { text: o.status }),
      el("td", { class: "num", text: age(o.age_seconds) }),
      el("td", { class: "num", text: String(o.replays) }),
      el("td", { text: o.gave_up ? "none: replays ended, look at the timeline" : o.next_replay ? when(o.next_replay) : "—" }))));
    $("stuck-empty").hidden = orders.length > 0;
  }

  function timelineLink(id) {
    const b = el("button", { type: "button", class: "secondary", text: id, "aria-label": "Show the timeline of order " + id });
    b.addEventListener("click", () => { $("order-id").value = id; guarded(loadTimeline); });
    return b;
  }

  async function loadDeadLetters() {
    const res = await call("GET", API + "deadletters");
    const { total, groups } = res.body;
    const open = groups.reduce((n, g) => n + g.open, 0);
    $("dl-summary").textContent = total === 0 ? "No dead letters." :
      (res.body.truncated ? "The first " : "") + total + " dead letters; " + open +
      " of orders that have not ended. The others were healed by the timeout sweep's replays." +
      (res.body.truncated ? " Redrive a group, then refresh for the rest." : "");
    $("deadletters").replaceChildren(...groups.map((g) => {
      const button = el("button", { type: "button", "data-redrive": g.subscription, disabled: !g.subscription, text: "Redrive " + g.count });
      button.setAttribute("aria-label", "Redrive " + g.count + " dead letters to " + (g.subscription || "an unknown subscription"));
      button.addEventListener("click", () => guarded(() => redrive(g, button)));
      return el("tr", { "data-group": g.subscription },
        el("td", { text: g.subscription || "(unknown)" }),
        el("td", { text: g.reason }),
        el("td", { class: "num", text: String(g.count) }),
        el("td", { class: "num", text: String(g.open) }),
        el("td", {}, ...g.order_ids.slice(0, 5).map(timelineLink)),
        el("td", {}, button));
    }));
  }

  async function redrive(g, button) {
    button.disabled = true;
    try {
      const res = await call("POST", API + "redrive", { subscription: g.subscription, reason: g.reason });
      $("dl-result").textContent = res.body.redriven > 0 ? "Redriven " + res.body.redriven + " to " + res.body.subscription + "." :
        "Nothing was redriven: another operator or sagactl may have been reading the dead letters at that moment. Refresh and try again.";
    } finally {
      await loadDeadLetters();
      $("dl-result").focus();
    }
  }

  async function loadRuns() {
    const res = await call("GET", API + "reconciliations");
    const runs = res.body.runs;
    $("runs").replaceChildren(...runs.map((r) => el("tr", {},
      el("td", { text: r.started_at ? new Date(r.started_at).toLocaleString() : r.run_id }),
      el("td", { text: r.status }),
      el("td", { class: "num", text: String(r.checked) }),
      el("td", { class: "num", text: String(r.findings) }),
      el("td", { class: "num", text: String(r.repaired) }),
      el("td", {}, ...(r.samples || []).slice(0, 5).map((f) =>
        el("div", {}, timelineLink(f.order_id), " " + f.problem + (f.repair ? " — repaired: " + f.repair : "")))))));
    $("runs-empty").hidden = runs.length > 0;
  }

  async function loadTimeline() {
    const id = $("order-id").value.trim();
    if (!id) {
      showError(errorEl, "Enter an order id.");
      $("order-id").focus();
      return;
    }
    try {
      const res = await call("GET", API + "orders/" + encodeURIComponent(id) + "/timeline");
      const t = res.body;
      $("timeline-summary").textContent = "Order " + t.order_id + ": " + t.status + (t.reason ? " (" + t.reason + ")" : "") +
        "; points " + t.point_state + "; tickets " + t.ticket_state + (t.trace_id ? "; trace " + t.trace_id : "");
      $("timeline").replaceChildren(...t.rows.map((r) => el("tr", {},
        el("td", { text: r.at ? when(r.at) : "—" }),
        el("td", { text: r.service }),
        el("td", { text: r.step }),
        el("td", { text: r.event_type }),
        el("td", { text: r.reason || "" }))));
    } catch (e) {
      $("timeline").replaceChildren();
      $("timeline-summary").textContent = "";
      throw e;
    }
  }

  function showConsole(on) {
    $("console").hidden = !on;
    const s = saga.session();
    $("sign-in-section").hidden = on;
    $("who").hidden = !s || !on;
    $("who-email").textContent = s ? s.email : "";
  }

  async function loadAll() {
    await guarded(async () => { await Promise.all([loadStuck(), loadDeadLetters(), loadRuns()]); });
  }

  async function start() {
    $("stuck-form").addEventListener("submit", (ev) => { ev.preventDefault(); guarded(loadStuck); });
    $("dl-refresh").addEventListener("click", () => guarded(loadDeadLetters));
    $("runs-refresh").addEventListener("click", () => guarded(loadRuns));
    $("timeline-form").addEventListener("submit", (ev) => { ev.preventDefault(); guarded(loadTimeline); });
    $("sign-out").addEventListener("click", () => { saga.signOut(); showConsole(false); });
    let c;
    try {
      c = await saga.loadConfig();
      await saga.wireSignIn($("sign-in-form"), errorEl, async () => { showConsole(true); await loadAll(); });
    } catch (e) {
      showError(errorEl, e.message);
      return;
    }
    if (c.ops_open || saga.session()) {
      showConsole(true);
      await loadAll();
    } else {
      showConsole(false);
    }
  }
  start();
})();
