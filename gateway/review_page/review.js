// The review page: lists pending items for the signed-in reviewer's tenants, decides with one
// click or one key, and polls so an item decided anywhere leaves every open page.
"use strict";

const POLL_MS = 2000;
const KEY_STORAGE = "swerve-review-key";
const $ = (selector) => document.querySelector(selector);
let shown = new Map();          // request_id -> <li>
let selected = null;            // request_id
let pollTimer = null;

function apiKey() { return sessionStorage.getItem(KEY_STORAGE); }

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}), Authorization: `Bearer ${apiKey()}` };
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401 || response.status === 403) {
    signOut(response.status === 401 ? "That key is not known to this gateway." : "That key has no reviewer role.");
    throw new Error(`HTTP ${response.status}`);
  }
  return response;
}

function signOut(message = "") {
  sessionStorage.removeItem(KEY_STORAGE);
  clearTimeout(pollTimer);
  for (const li of shown.values()) li.remove();
  shown = new Map();
  selected = null;
  $("#queue").hidden = $("#filters").hidden = $("#who").hidden = true;
  $("#sign-in").hidden = false;
  $("#sign-in-error").textContent = message;
  $("#api-key").focus();
}

function waited(since) {
  const seconds = Math.max(0, (Date.now() - Date.parse(since)) / 1000);
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

async function loadImage(img, path) {
  const response = await api(path);
  if (!response.ok) { img.alt = `could not load (${response.status})`; return; }
  img.src = URL.createObjectURL(await response.blob());
}

function fillOptions(select, values) {
  const current = select.value;
  const wanted = ["", ...values];
  if ([...select.options].map((o) => o.value).join("\n") === wanted.join("\n")) return;
  select.replaceChildren(...wanted.map((value) => new Option(value || "all", value)));
  select.value = wanted.includes(current) ? current : "";
}

function render(item) {
  const li = $("#item-template").content.firstElementChild.cloneNode(true);
  li.dataset.requestId = item.request_id;
  li.querySelector(".prompt").textContent = item.prompt;
  li.querySelector(".tenant").textContent = `tenant ${item.tenant}`;
  li.querySelector(".route").textContent = item.route === "on_exhausted" ? "corrections exhausted" : "sent to review on flag";
  li.querySelector(".waiting").dataset.since = item.waiting_since;
  for (const reason of item.reasons) {
    const entry = document.createElement("li");
    const name = document.createElement("strong");
    name.textContent = reason.detector;
    entry.append(name, reason.score === null
      ? ` failed: ${reason.reason}`
      : ` score ${reason.score.toFixed(3)}` + (reason.threshold === null ? "" : ` (flags at ${reason.threshold})`));
    li.querySelector(".reasons").append(entry);
  }
  if (item.correction_reasons) li.querySelector(".corrections").textContent = `Corrections gave up: ${item.correction_reasons}`;
  if (item.has_candidate) {
    li.querySelector("figure.candidate figcaption").textContent = `best replacement (${item.candidate_method})`;
  }
  loadImage(li.querySelector("img.original"), `/v1/review/items/${encodeURIComponent(item.request_id)}/original`);
  if (item.has_candidate) {
    loadImage(li.querySelector("img.replacement"), `/v1/review/items/${encodeURIComponent(item.request_id)}/replacement`);
  } else {
    li.querySelector("figure.candidate").classList.add("none");
    li.querySelector(".approve-replacement").disabled = true;
  }
  li.querySelector(".approve-original").addEventListener("click", () => decide(item.request_id, "approve_original"));
  li.querySelector(".approve-replacement").addEventListener("click", () => decide(item.request_id, "approve_replacement"));
  li.querySelector(".block").addEventListener("click", () => decide(item.request_id, "block"));
  li.addEventListener("click", (event) => { if (event.target.tagName !== "BUTTON") select(item.request_id); });
  return li;
}

function select(requestId) {
  if (selected && shown.has(selected)) shown.get(selected).classList.remove("selected");
  selected = requestId;
  const li = requestId ? shown.get(requestId) : null;
  if (li) { li.classList.add("selected"); li.scrollIntoView({ block: "nearest" }); }
}

function neighbour(requestId, step) {
  const ids = [...shown.keys()];
  const at = ids.indexOf(requestId);
  if (!ids.length) return null;
  if (at < 0) return ids[0];
  return ids[Math.min(ids.length - 1, Math.max(0, at + step))];
}

function removeItem(requestId) {
  const li = shown.get(requestId);
  if (!li) return;
  const next = selected === requestId ? (neighbour(requestId, 1) === requestId ? neighbour(requestId, -1) : neighbour(requestId, 1)) : selected;
  for (const img of li.querySelectorAll("img")) if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
  li.remove();
  shown.delete(requestId);
  select(next === requestId ? null : next);
}

async function decide(requestId, decision) {
  const li = shown.get(requestId);
  if (!li) return;
  const buttons = li.querySelectorAll(".actions button");
  buttons.forEach((button) => { button.disabled = true; });
  const note = li.querySelector(".note").value;
  try {
    const response = await api(`/v1/review/items/${encodeURIComponent(requestId)}/decision`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ decision, note }),
    });
    const body = await response.json();
    if (response.ok) {
      $("#status").textContent = `${requestId}: ${decision.replace("_", " ")} recorded`;
      removeItem(requestId);
    } else if (response.status === 409 && body.first) {
      $("#status").textContent = `${requestId} was already decided: ${body.first.decision} by ${body.first.reviewer}`;
      removeItem(requestId);
    } else {
      li.querySelector(".outcome").textContent = body.detail || `HTTP ${response.status}`;
      buttons.forEach((button) => { button.disabled = false; });
      if (!li.querySelector("figure.candidate.none")) return;
      li.querySelector(".approve-replacement").disabled = true;
    }
  } catch (error) {
    li.querySelector(".outcome").textContent = `not sent: ${error.message}`;
    buttons.forEach((button) => { button.disabled = false; });
  }
  updateCount();
}

function updateCount() {
  const n = shown.size;
  $("#count").textContent = `${n} waiting`;
  $("#empty").hidden = n > 0;
}

async function poll() {
  clearTimeout(pollTimer);
  try {
    const query = new URLSearchParams();
    if ($("#tenant-filter").value) query.set("tenant", $("#tenant-filter").value);
    if ($("#reason-filter").value) query.set("reason", $("#reason-filter").value);
    const response = await api(`/v1/review/items?${query}`);
    if (!response.ok) throw new Error((await response.json()).detail || `HTTP ${response.status}`);
    const body = await response.json();
    $("#reviewer-name").textContent = body.reviewer;
    fillOptions($("#tenant-filter"), body.tenants);
    fillOptions($("#reason-filter"), body.reasons);
    const now = new Set(body.items.map((item) => item.request_id));
    for (const requestId of [...shown.keys()]) if (!now.has(requestId)) removeItem(requestId);
    for (const item of body.items) {
      if (shown.has(item.request_id)) continue;
      const li = render(item);
      $("#items").append(li);
      shown.set(item.request_id, li);
    }
    for (const span of document.querySelectorAll(".waiting")) span.textContent = waited(span.dataset.since);
    if (!selected || !shown.has(selected)) select(neighbour(null, 0));
    updateCount();
    $("#status").dataset.polledAt = new Date().toISOString();
  } catch (error) {
    if (!apiKey()) return;
    $("#status").textContent = `could not refresh: ${error.message}`;
  }
  if (apiKey()) pollTimer = setTimeout(poll, POLL_MS);
}

function start() {
  $("#sign-in").hidden = true;
  $("#queue").hidden = $("#filters").hidden = $("#who").hidden = false;
  poll();
}

document.addEventListener("keydown", (event) => {
  if (!apiKey() || event.ctrlKey || event.metaKey || event.altKey) return;
  const typing = ["TEXTAREA", "INPUT", "SELECT"].includes(document.activeElement.tagName);
  if (typing) { if (event.key === "Escape") document.activeElement.blur(); return; }
  const actions = { o: "approve_original", r: "approve_replacement", b: "block" };
  if (event.key === "j" || event.key === "ArrowDown") select(neighbour(selected, 1));
  else if (event.key === "k" || event.key === "ArrowUp") select(neighbour(selected, -1));
  else if (event.key === "n" && selected) { shown.get(selected).querySelector(".note").focus(); }
  else if (actions[event.key] && selected) {
    const button = shown.get(selected).querySelector(`.${actions[event.key].replace("_", "-")}`);
    if (!button.disabled) decide(selected, actions[event.key]);
  } else return;
  event.preventDefault();
});

$("#sign-in").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY_STORAGE, $("#api-key").value.trim());
  $("#api-key").value = "";
  start();
});
$("#sign-out").addEventListener("click", () => signOut());
$("#tenant-filter").addEventListener("change", poll);
$("#reason-filter").addEventListener("change", poll);

if (apiKey()) start(); else signOut();
