// The try-it page: pick a user, see their recommendations, click items, watch the list change.
// Plain browser JavaScript, no build step and no third-party code (the page must work offline).
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);

  const page = {
    user: "",
    session: "",
    renders: 0,
    // rank of each item in the previous list of this user+session, to show how the list moved
    previousRanks: null,
    seen: new Set(),
    history: [],
    inflight: null, // AbortController of the recommendation request under way
    sequence: 0, // ignores answers that arrive after a newer request was sent
  };

  // --- small helpers ----------------------------------------------------------------------

  // crypto.randomUUID exists only in secure contexts; getRandomValues also works over plain
  // http on a LAN address, where people open this page too.
  function randomId(prefix) {
    const bytes = new Uint8Array(8);
    crypto.getRandomValues(bytes);
    return prefix + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  class ApiError extends Error {}

  // Fetch JSON; returns {body, ms} where ms is the round trip as the browser saw it.
  async function api(path, { method = "GET", json, signal } = {}) {
    const options = { method, signal, headers: { Accept: "application/json" } };
    if (json !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(json);
    }
    const started = performance.now();
    let response;
    try {
      response = await fetch(path, options);
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiError(`could not reach the server (${error.message}); is it running?`);
    }
    const text = await response.text();
    const ms = performance.now() - started;
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    if (!response.ok) {
      const detail = body && body.detail ? body.detail : text || response.statusText;
      throw new ApiError(`${method} ${path} failed with ${response.status}: ${detail}`);
    }
    return { body, ms };
  }

  function formatMs(ms) {
    return `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
  }

  function clock(date) {
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function showError(message) {
    const box = $("error");
    box.textContent = message;
    box.hidden = !message;
  }

  const VERBS = { view: "viewed", add_to_cart: "added to cart", purchase: "bought" };

  // --- options ------------------------------------------------------------------------------

  function readK() {
    const input = $("k");
    const k = Math.round(Number(input.value));
    if (!Number.isFinite(k) || k < 1 || k > 100) {
      input.setAttribute("aria-invalid", "true");
      throw new ApiError(`"How many" must be a whole number from 1 to 100; found "${input.value}"`);
    }
    input.removeAttribute("aria-invalid");
    return k;
  }

  function recommendationsPath() {
    const params = new URLSearchParams({ session_id: page.session, k: String(readK()) });
    if ($("exclude-seen").checked) params.set("exclude_seen", "true");
    if ($("explain").checked) params.set("explain", "true");
    return `/recommendations/${encodeURIComponent(page.user)}?${params}`;
  }

  // --- session ------------------------------------------------------------------------------

  function startSession(sessionId) {
    page.session = sessionId || randomId("web-");
    page.previousRanks = null;
    page.seen = new Set();
    page.history = [];
    $("session-id").textContent = page.session;
    renderHistory();
  }

  function useUser(userId) {
    const user = userId.trim();
    if (!user) {
      showError("Type a user id or pick a sample user.");
      $("user-id").focus();
      return false;
    }
    if (user !== page.user) {
      // A session belongs to one user: switching user starts a fresh session.
      page.user = user;
      startSession();
    }
    $("user-id").value = user;
    $("sample-users").value = [...$("sample-users").options].some((o) => o.value === user)
      ? user
      : "";
    return true;
  }

  // --- recommendations ----------------------------------------------------------------------

  async function refresh({ focus } = {}) {
    if (!page.user) return;
    let path;
    try {
      path = recommendationsPath();
    } catch (error) {
      showError(error.message);
      return;
    }
    if (page.inflight) page.inflight.abort();
    const controller = new AbortController();
    page.inflight = controller;
    const sequence = ++page.sequence;
    $("recs").setAttribute("aria-busy", "true");
    $("status").textContent = "Loading…";
    try {
      const { body, ms } = await api(path, { signal: controller.signal });
      if (sequence !== page.sequence) return;
      showError("");
      render(body, ms);
      restoreFocus(focus);
    } catch (error) {
      if (error.name === "AbortError" || sequence !== page.sequence) return;
      showError(error.message);
      $("status").textContent = "";
    } finally {
      if (sequence === page.sequence) {
        page.inflight = null;
        $("recs").removeAttribute("aria-busy");
      }
    }
  }

  function render(body, ms) {
    page.renders += 1;
    $("model-version").textContent = body.model_version || "none loaded";
    $("latency").textContent = formatMs(ms);
    const timings = Object.entries(body.timings_ms || {});
    $("timings").textContent = timings.length
      ? timings.map(([stage, value]) => `${stage} ${formatMs(value)}`).join(" · ")
      : "–";
    $("candidates").textContent = String(body.candidates);

    $("degraded").hidden = !body.degraded;
    $("degraded-reason").textContent = body.degraded ? body.reason || "no reason given" : "";

    const list = $("recs");
    const previous = page.previousRanks;
    const ranks = new Map();
    const cards = body.items.map((item) => {
      ranks.set(item.item_id, item.rank);
      return card(item, previous);
    });
    list.replaceChildren(...cards);
    page.previousRanks = ranks;

    list.dataset.render = String(page.renders);
    list.dataset.requestId = body.request_id; // sent back with clicks: attributes them
    list.dataset.sessionEvents = String(body.session_events);
    list.dataset.degraded = String(body.degraded);
    const events = body.session_events === 1 ? "1 event" : `${body.session_events} events`;
    $("status").textContent = body.items.length
      ? `${body.items.length} items for ${body.user_id} · ${events} in this session · ` +
        `updated ${clock(new Date())}`
      : `No items for ${body.user_id}.`;
  }

  function card(item, previous) {
    const node = $("card-template").content.firstElementChild.cloneNode(true);
    node.dataset.itemId = item.item_id;
    node.dataset.rank = String(item.rank);
    const name = item.title || item.item_id;
    node.querySelector(".rank").textContent = `#${item.rank}`;
    const title = node.querySelector(".title");
    title.textContent = name;
    title.setAttribute("aria-label", `View ${name}`);
    for (const button of node.querySelectorAll(".card-actions button")) {
      button.setAttribute("aria-label", `${button.textContent}: ${name}`);
    }
    movement(node.querySelector(".move"), item, previous);
    if (page.seen.has(item.item_id)) {
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = "seen";
      node.querySelector(".card-head").append(badge);
    }
    detail(node, ".category", item.category);
    detail(node, ".price", item.price == null ? null : item.price.toFixed(2));
    detail(node, ".score", item.score.toFixed(4));
    if (item.explanation && item.explanation.length) {
      explanation(node.querySelector(".explanation"), item.explanation);
    }
    return node;
  }

  // Sources without categories or prices are normal: leave the row out rather than show "null".
  function detail(node, selector, value) {
    const cell = node.querySelector(selector);
    if (value == null || value === "") {
      cell.parentElement.hidden = true;
    } else {
      cell.textContent = value;
    }
  }

  function movement(cell, item, previous) {
    if (!previous) return;
    const before = previous.get(item.item_id);
    if (before === undefined) {
      cell.textContent = "new";
      cell.className = "move up";
      cell.title = "not in the previous list";
    } else if (before !== item.rank) {
      const up = before > item.rank;
      const steps = Math.abs(before - item.rank);
      cell.textContent = `${up ? "▲" : "▼"} ${steps}`;
      cell.className = `move ${up ? "up" : "down"}`;
      cell.title = `was #${before}`;
      cell.setAttribute("aria-label", `${up ? "up" : "down"} ${steps} from #${before}`);
    }
  }

  function formatValue(value) {
    if (Number.isInteger(value)) return String(value);
    return Math.abs(value) >= 100 ? value.toFixed(0) : value.toPrecision(3);
  }

  function explanation(box, contributions) {
    const largest = Math.max(...contributions.map((c) => Math.abs(c.contribution)), 1e-9);
    const rows = contributions.map((c) => {
      const row = document.createElement("li");
      const name = document.createElement("span");
      name.className = "feature";
      // The meaning in words and this item's value; the model's column name on hover.
      const shown = c.value === null || c.value === undefined ? "missing" : formatValue(c.value);
      name.textContent = `${c.label || c.feature} = ${shown}`;
      name.title = `${c.feature} = ${shown}`;
      const bar = document.createElement("span");
      bar.className = `bar ${c.contribution >= 0 ? "pos" : "neg"}`;
      bar.style.width = `${Math.round((Math.abs(c.contribution) / largest) * 100)}%`;
      bar.setAttribute("aria-hidden", "true");
      const value = document.createElement("span");
      value.className = "value";
      value.textContent = `${c.contribution >= 0 ? "+" : ""}${c.contribution.toFixed(3)}`;
      const track = document.createElement("span");
      track.className = "track";
      track.append(bar);
      row.append(name, track, value);
      return row;
    });
    box.querySelector(".contribs").replaceChildren(...rows);
    box.hidden = false;
  }

  // After a re-render the clicked card may have moved or gone: keep keyboard users in place.
  function restoreFocus(focus) {
    if (!focus) return;
    const cardNode = [...$("recs").children].find((li) => li.dataset.itemId === focus.itemId);
    const target = cardNode && cardNode.querySelector(`[data-action="${focus.action}"]`);
    (target || $("recs-title")).focus();
  }

  // --- events ---------------------------------------------------------------------------------

  async function sendEvent(cardNode, eventType, trigger) {
    const itemId = cardNode.dataset.itemId;
    const title = cardNode.querySelector(".title").textContent;
    const rank = Number(cardNode.dataset.rank);
    const buttons = $("recs").querySelectorAll("button");
    buttons.forEach((b) => (b.disabled = true));
    const event = {
      event_id: randomId("web-event-"), // a retry of this click is not counted twice
      user_id: page.user,
      session_id: page.session,
      item_id: itemId,
      event_type: eventType,
    };
    if ($("recs").dataset.requestId) event.request_id = $("recs").dataset.requestId;
    try {
      const { body } = await api("/events", { method: "POST", json: event });
      page.seen.add(itemId);
      page.history.push({
        at: new Date(),
        eventType,
        itemId,
        title,
        rank,
        note: body.degraded ? `stored, not yet applied online: ${body.reason}` : "",
      });
      renderHistory();
    } catch (error) {
      showError(error.message);
      buttons.forEach((b) => (b.disabled = false));
      return;
    }
    await refresh({ focus: { itemId, action: trigger.dataset.action } });
    // If the fetch failed the old cards are still there: make them usable again.
    $("recs").querySelectorAll("button:disabled").forEach((b) => (b.disabled = false));
  }

  function renderHistory() {
    const list = $("history");
    const rows = page.history
      .slice()
      .reverse()
      .map((entry) => {
        const row = document.createElement("li");
        row.dataset.eventType = entry.eventType;
        row.dataset.itemId = entry.itemId;
        const time = document.createElement("time");
        time.dateTime = entry.at.toISOString();
        time.textContent = clock(entry.at);
        const what = document.createElement("span");
        what.className = `verb ${entry.eventType}`;
        what.textContent = VERBS[entry.eventType];
        const item = document.createElement("span");
        item.className = "item";
        item.textContent = `${entry.title} (was #${entry.rank})`;
        row.append(time, " ", what, " ", item);
        if (entry.note) {
          const note = document.createElement("span");
          note.className = "note";
          note.textContent = entry.note;
          row.append(note);
        }
        return row;
      });
    list.replaceChildren(...rows);
    list.dataset.count = String(page.history.length);
    $("history-empty").hidden = page.history.length > 0;
  }

  // --- start-up -----------------------------------------------------------------------------

  async function loadSampleUsers() {
    const select = $("sample-users");
    try {
      const { body } = await api("/users/sample?n=12");
      const options = body.map(
        (u) => new Option(`${u.user_id} (${u.events_total} events)`, u.user_id),
      );
      const prompt = new Option(body.length ? "Choose a user…" : "No known users yet", "");
      select.replaceChildren(prompt, ...options);
      return body.map((u) => u.user_id);
    } catch (error) {
      select.replaceChildren(new Option("Could not load users", ""));
      showError(error.message);
      return [];
    }
  }

  function wire() {
    $("query-form").addEventListener("submit", (event) => {
      event.preventDefault();
      if (useUser($("user-id").value)) refresh();
    });
    $("sample-users").addEventListener("change", (event) => {
      if (event.target.value && useUser(event.target.value)) refresh();
    });
    $("new-visitor").addEventListener("click", () => {
      if (useUser(randomId("visitor-"))) refresh();
    });
    $("new-session").addEventListener("click", () => {
      startSession();
      refresh();
    });
    for (const id of ["k", "exclude-seen", "explain"]) {
      $(id).addEventListener("change", () => refresh());
    }
    $("recs").addEventListener("click", (event) => {
      const button = event.target.closest("button[data-action]");
      if (!button || button.disabled) return;
      sendEvent(button.closest("li.card"), button.dataset.action, button);
    });
  }

  async function start() {
    wire();
    // ?user=&session=&k=&explain=1&exclude_seen=0 make a state shareable (and testable).
    const params = new URLSearchParams(location.search);
    if (params.has("k")) $("k").value = params.get("k");
    if (params.has("explain")) $("explain").checked = params.get("explain") !== "0";
    if (params.has("exclude_seen")) $("exclude-seen").checked = params.get("exclude_seen") !== "0";
    const samples = await loadSampleUsers();
    const user = params.get("user") || samples[0] || randomId("visitor-");
    useUser(user);
    if (params.get("session")) startSession(params.get("session"));
    await refresh();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
