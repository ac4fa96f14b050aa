// vitals clinician console: no framework, no build step. Every value from the API is
// written with textContent (never innerHTML), and the page loads nothing from elsewhere.
// Views have their own URLs: #/ (patients and alerts), #/alerts/ID, #/patients/ID.
"use strict";

const KEY_STORE = "vitals.apiKey";
const PAGE_SIZE = 50;
const POLL_MS = 15000;
const SVG_NS = "http://www.w3.org/2000/svg";
const TYPE_NAMES = {
  fall_detected: "Fall", arrhythmia: "Arrhythmia", high_heart_rate: "High heart rate",
  low_heart_rate: "Low heart rate", high_stress: "High stress", sos: "SOS",
};
const TYPE_SHORT = {
  fall_detected: "fall", arrhythmia: "AF", high_heart_rate: "HR↑", low_heart_rate: "HR↓",
  high_stress: "stress", sos: "SOS",
};
const EVENT_NAMES = {
  created: "Raised", severity_changed: "Severity changed", notified: "Text sent",
  delivered: "Text delivered", escalated: "Escalated", acknowledged: "Acknowledged",
  cleared: "Condition cleared", rate_limited: "Text rate-limited", commented: "Comment",
  resolved: "Resolved",
};
const SEVERITY_COLORS = { critical: "#b42318", high: "#c4320a", medium: "#b54708", low: "#3b7c0f" };
const state = {
  cursor: null, shown: 0, selected: new Set(), etags: {}, patients: [], view: null,
  chart: { userId: null, span: 0 }, lastDetail: "",
};
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text !== "" && text !== null && text !== undefined) node.textContent = String(text);
  return node;
}

class ApiError extends Error {}

// -- talking to the API -------------------------------------------------------------------

async function api(path, options = {}) {
  const key = sessionStorage.getItem(KEY_STORE);
  const headers = Object.assign({ Authorization: `Bearer ${key}` }, options.headers || {});
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 401) {
    sessionStorage.removeItem(KEY_STORE);
    showKeyForm("That key was refused (missing, wrong or revoked). Enter a valid key.");
    throw new ApiError("unauthenticated");
  }
  if (!response.ok && response.status !== 304) {
    let detail = `${response.status} ${response.statusText}`;
    try { detail = (await response.json()).detail || detail; } catch (_) { /* not JSON */ }
    throw new ApiError(typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  return response;
}

/** GET with If-None-Match: the parsed body, or null when nothing changed since last time. */
async function poll(name, path) {
  const headers = state.etags[name] && state.etags[name].path === path
    ? { "If-None-Match": state.etags[name].tag } : {};
  const response = await api(path, { headers });
  if (response.status === 304) return null;
  state.etags[name] = { path, tag: response.headers.get("ETag") };
  return response.json();
}

async function postJson(path, body) {
  return api(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

function showError(message) {
  $("error").textContent = message || "";
  $("error").hidden = !message;
}

function markUpdated() {
  const now = new Date();
  $("updated").textContent = `updated ${now.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}`;
  $("updated").setAttribute("title", `last refreshed ${now.toISOString()} (every ${POLL_MS / 1000} s)`);
}

// -- time in the viewer's zone, UTC on hover ------------------------------------------------

function localTime(iso, withDate = true) {
  const t = new Date(iso);
  const options = withDate
    ? { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" }
    : { hour: "2-digit", minute: "2-digit" };
  return t.toLocaleString([], options);
}

function utcTitle(iso) {
  return new Date(iso).toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

function timeEl(iso, withDate = true) {
  if (!iso) return el("span", { class: "muted" }, "—");
  return el("time", { datetime: iso, title: utcTitle(iso) }, localTime(iso, withDate));
}

function ago(iso) {
  if (!iso) return "never";
  const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

// -- key ----------------------------------------------------------------------------------

function showKeyForm(message) {
  for (const id of ["overview", "alert-view", "patient-view", "who"]) $(id).hidden = true;
  showError("");
  $("key-form").hidden = false;
  $("key-problem").textContent = message || "";
  $("key-problem").hidden = !message;
}

async function start() {
  $("key-form").hidden = true;
  showError("");
  try {
    const me = await (await api("/v1/me")).json();
    const scope = me.role === "admin" ? "all patients" : `patients ${me.patientIds.join(", ") || "none"}`;
    $("who-text").textContent = `${me.name || "key " + me.id} · ${me.role} · ${scope}`;
    $("who").hidden = false;
    await route();
  } catch (error) {
    if (error.message !== "unauthenticated") showError(error.message);
  }
}

// -- routing --------------------------------------------------------------------------------

function currentRoute() {
  const match = location.hash.match(/^#\/(alerts|patients)\/(\d+)$/);
  return match ? { view: match[1], id: Number(match[2]) } : { view: "overview", id: null };
}

async function route() {
  if (!sessionStorage.getItem(KEY_STORE)) return;
  const { view, id } = currentRoute();
  $("overview").hidden = view !== "overview";
  $("alert-view").hidden = view !== "alerts";
  $("patient-view").hidden = view !== "patients";
  showError("");
  state.view = view;
  if (view === "alerts") { state.lastDetail = ""; await loadAlertDetail(id); }
  else if (view === "patients") await showPatient(id);
  else { state.etags = {}; await Promise.all([loadPatients(), loadAlerts(true)]); }
  window.scrollTo(0, 0);
}

async function refresh() {
  if ($("key-form").hidden === false || document.hidden) return;
  const { view, id } = currentRoute();
  try {
    if (view === "alerts") await loadAlertDetail(id);
    else if (view === "patients") await showPatient(id, true);
    else {
      await loadPatients();
      if (state.shown <= PAGE_SIZE) await loadAlerts(true, true);
    }
  } catch (_) { /* shown by the loaders */ }
}

// -- patients overview ------------------------------------------------------------------------

async function loadPatients() {
  const q = $("p-search").value.trim();
  try {
    const body = await poll("patients", `/v1/patients${q ? `?q=${encodeURIComponent(q)}` : ""}`);
    markUpdated();
    if (body === null) return;
    state.patients = body.items;
    renderPatients(body);
  } catch (error) {
    $("patients").tBodies[0].replaceChildren();
    $("patients-count").textContent = "";
    state.etags.patients = null;
    if (error.message !== "unauthenticated") showError(`Patients: ${error.message}`);
  }
}

function rhythm(patient) {
  if (patient.readingAt === null) return el("span", { class: "muted" }, "—");
  if (patient.arrhythmia === null) return el("span", { class: "muted", title: "the latest window could not be read" }, "unreadable");
  return patient.arrhythmia ? el("span", { class: "warn" }, "irregular") : el("span", {}, "regular");
}

function renderPatients(body) {
  const rows = body.items.map((p) => {
    const tr = el("tr", { "data-user-id": String(p.userId), class: p.openAlerts ? "has-open" : "" });
    const name = el("td", { class: "name" });
    name.append(el("a", { href: `#/patients/${p.userId}` }, `${p.name || "patient"} #${p.userId}`));
    if (!p.transmitting) name.append(" ", el("span", { class: "chip silent", title: `no device message for over ${Math.round(body.notTransmittingAfterSeconds / 60)} min` }, "not transmitting"));
    tr.append(name);
    const open = el("td", { "data-label": "open" });
    if (p.openAlerts) {
      open.append(el("span", { class: `badge ${p.worstOpenSeverity}` }, p.worstOpenSeverity || "open"), ` ${p.openAlerts}`);
    } else open.append(el("span", { class: "muted" }, "none"));
    tr.append(open);
    tr.append(el("td", { "data-label": "HR" }, p.heartRate === null ? "—" : `${p.heartRate} bpm`));
    tr.append(el("td", { "data-label": "HRV" }, p.hrvMs === null ? "—" : `${Math.round(p.hrvMs)} ms`));
    tr.append(el("td", { "data-label": "stress" }, p.stressLevel === null ? "—" : `${p.stressLevel}/10`));
    const rh = el("td", { "data-label": "rhythm" });
    rh.append(rhythm(p));
    tr.append(rh);
    const seen = el("td", { "data-label": "seen" });
    seen.append(p.lastSeenAt ? el("time", { datetime: p.lastSeenAt, title: utcTitle(p.lastSeenAt) }, ago(p.lastSeenAt)) : el("span", { class: "muted" }, "never"));
    tr.append(seen);
    return tr;
  });
  $("patients").tBodies[0].replaceChildren(...rows);
  const open = body.items.filter((p) => p.openAlerts).length;
  $("patients-count").textContent = `${body.items.length} · ${open} with open alerts`;
}

// -- alert list -------------------------------------------------------------------------------

function filterParams() {
  const params = new URLSearchParams();
  const user = $("f-user").value.trim();
  if (user) params.set("user", user);
  const chosen = $("f-state").value;
  if (chosen === "needs") { params.set("state", "active"); params.set("acknowledged", "false"); }
  else {
    if (chosen) params.set("state", chosen);
    if ($("f-ack").value) params.set("acknowledged", $("f-ack").value);
  }
  for (const [id, name] of [["f-type", "type"], ["f-severity", "severity"]]) {
    if ($(id).value) params.set(name, $(id).value);
  }
  if ($("f-since").value) params.set("since", new Date(`${$("f-since").value}T00:00:00`).toISOString());
  if ($("f-until").value) {
    const end = new Date(`${$("f-until").value}T00:00:00`);
    end.setDate(end.getDate() + 1);
    params.set("until", end.toISOString());
  }
  return params;
}

async function loadAlerts(reset, conditional = false) {
  const params = filterParams();
  params.set("limit", String(PAGE_SIZE));
  if (!reset && state.cursor) params.set("cursor", state.cursor);
  const path = `/v1/alerts?${params}`;
  let page;
  try {
    page = conditional && reset ? await poll("alerts", path) : await (await api(path)).json();
  } catch (error) {
    $("alerts").replaceChildren();
    $("count").textContent = "";
    $("more").hidden = true;
    state.etags.alerts = null;
    if (error.message !== "unauthenticated") showError(`Alerts: ${error.message}`);
    return;
  }
  markUpdated();
  if (page === null) return;
  if (!conditional && reset) state.etags.alerts = null;
  if (reset) { $("alerts").replaceChildren(); state.shown = 0; state.selected.clear(); showError(""); }
  for (const alert of page.items) $("alerts").append(alertItem(alert, true));
  state.shown += page.items.length;
  state.cursor = page.nextCursor;
  $("more").hidden = !page.nextCursor;
  $("count").textContent = state.shown ? `${state.shown}${page.nextCursor ? "+" : ""} shown` : "none match";
  updateBulk();
}

function stateChips(alert) {
  const box = el("span", { class: "chips" });
  box.append(alert.clearedAt
    ? el("span", { class: "chip cleared", title: `condition over ${utcTitle(alert.clearedAt)}` }, "cleared")
    : el("span", { class: "chip active" }, "active"));
  box.append(alert.acknowledged
    ? el("span", { class: "chip acked" }, "acknowledged")
    : el("span", { class: "chip unacked" }, "unacknowledged"));
  return box;
}

function alertItem(alert, selectable) {
  const item = el("li", { class: "alert", "data-alert-id": String(alert.id) });
  if (selectable && !alert.acknowledged) {
    const box = el("input", { type: "checkbox", class: "pick", "aria-label": `select alert ${alert.id}` });
    box.addEventListener("change", () => {
      if (box.checked) state.selected.add(alert.id); else state.selected.delete(alert.id);
      updateBulk();
    });
    item.append(box);
  } else item.append(el("span", { class: "pick" }));
  item.append(timeEl(alert.createdAt));
  const what = el("div", { class: "what" });
  what.append(el("a", { href: `#/alerts/${alert.id}`, class: "type" }, TYPE_NAMES[alert.type] || alert.type));
  if (alert.severity) what.append(el("span", { class: `badge ${alert.severity}` }, alert.severity));
  what.append(" ", stateChips(alert), " ");
  what.append(el("a", { href: `#/patients/${alert.userId}`, class: "patient" }, `${alert.userName || "patient"} #${alert.userId}`));
  what.append(el("div", { class: "msg" }, alert.message || ""));
  item.append(what);
  item.append(alert.acknowledged ? el("span", { class: "state" }, "✓ acknowledged") : ackButton(alert.id));
  return item;
}

function ackButton(alertId) {
  const button = el("button", { type: "button", class: "ack" }, "Acknowledge");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await postJson(`/v1/alerts/${alertId}/ack`);
      button.replaceWith(el("span", { class: "state" }, "✓ acknowledged"));
      state.etags = {};
      refresh();
    } catch (error) {
      button.disabled = false;
      if (error.message !== "unauthenticated") showError(error.message);
    }
  });
  return button;
}

function updateBulk() {
  const n = state.selected.size;
  $("bulk-ack").disabled = n === 0;
  $("bulk-ack").textContent = n ? `Acknowledge ${n} selected` : "Acknowledge selected";
}

async function bulkAck() {
  const ids = [...state.selected];
  if (!ids.length) return;
  $("bulk-ack").disabled = true;
  try {
    await postJson("/v1/alerts/ack", { ids });
    state.selected.clear();
    state.etags = {};
    await Promise.all([loadPatients(), loadAlerts(true)]);
  } catch (error) {
    if (error.message !== "unauthenticated") showError(`Acknowledge: ${error.message}`);
    updateBulk();
  }
}

async function downloadCsv(event) {
  event.preventDefault();
  try {
    const blob = await (await api(`/v1/alerts.csv?${filterParams()}`)).blob();
    const link = el("a", { href: URL.createObjectURL(blob), download: "alerts.csv" });
    document.body.append(link);
    link.click();
    link.remove();
  } catch (error) {
    if (error.message !== "unauthenticated") showError(`CSV: ${error.message}`);
  }
}

// -- alert detail -------------------------------------------------------------------------------

async function loadAlertDetail(alertId) {
  let alert;
  try {
    alert = await (await api(`/v1/alerts/${alertId}`)).json();
  } catch (error) {
    $("alert-detail").replaceChildren();
    state.lastDetail = "";
    if (error.message !== "unauthenticated") showError(`Alert ${alertId}: ${error.message}`);
    return;
  }
  markUpdated();
  const snapshot = JSON.stringify(alert);
  if (snapshot === state.lastDetail) return;
  state.lastDetail = snapshot;
  renderAlertDetail(alert);
}

function fact(dl, label, value) {
  dl.append(el("dt", {}, label));
  const dd = el("dd");
  if (value instanceof Node) dd.append(value); else dd.textContent = value;
  dl.append(dd);
}

function timeline(alert) {
  const items = [];
  for (const e of alert.events) {
    if (e.eventType === "commented") continue; // the comment itself is listed
    items.push({ at: e.createdAt, kind: e.eventType, title: EVENT_NAMES[e.eventType] || e.eventType.replace(/_/g, " "), who: e.actor, text: e.eventType === "resolved" ? "" : e.detail });
  }
  for (const s of alert.sms) {
    const parts = [`level ${s.escalationLevel}`, s.status];
    if (s.attempts > 1) parts.push(`${s.attempts} attempts`);
    if (s.deliveredAt) parts.push(`delivered ${localTime(s.deliveredAt)}`);
    if (s.lastError) parts.push(`error: ${s.lastError}`);
    items.push({ at: s.sentAt || s.deliveredAt, kind: `sms ${s.status}`, title: `Text to ${s.contactName} (${s.phone})`, who: "", text: parts.join(" · "), status: s.status });
  }
  for (const n of alert.notes) {
    items.push({ at: n.createdAt, kind: n.kind, title: n.kind === "resolution" ? "Resolution note" : "Comment", who: n.author, text: n.text });
  }
  items.sort((a, b) => (a.at === null) - (b.at === null) || new Date(a.at) - new Date(b.at));
  const list = el("ol", { class: "timeline" });
  for (const item of items) {
    const li = el("li", { class: `ev ${item.kind.replace(/[^a-z_ ]/gi, "")}` });
    const head = el("div", { class: "ev-head" });
    head.append(item.at ? timeEl(item.at) : el("span", { class: "muted" }, "not sent yet"));
    head.append(" ", el("strong", {}, item.title));
    if (item.status) head.append(" ", el("span", { class: `chip sms-${item.status}` }, item.status));
    if (item.who) head.append(" ", el("span", { class: "muted" }, `by ${item.who}`));
    li.append(head);
    if (item.text) li.append(el("div", { class: "ev-text" }, item.text));
    list.append(li);
  }
  return list;
}

function renderAlertDetail(alert) {
  const box = $("alert-detail");
  const title = el("h2", { class: "detail-title" });
  title.append(`${TYPE_NAMES[alert.type] || alert.type} `);
  if (alert.severity) title.append(el("span", { class: `badge ${alert.severity}` }, alert.severity));
  title.append(" ", stateChips(alert));
  const dl = el("dl", { class: "facts" });
  fact(dl, "Patient", el("a", { href: `#/patients/${alert.userId}` }, `${alert.userName || "patient"} #${alert.userId}`));
  fact(dl, "Raised", timeEl(alert.createdAt));
  fact(dl, "Message", alert.message || "—");
  if (alert.heartRate !== null) fact(dl, "Heart rate", `${alert.heartRate} bpm`);
  if (alert.stressLevel !== null) fact(dl, "Stress", `${alert.stressLevel}/10`);
  const acks = alert.events.filter((e) => e.eventType === "acknowledged");
  if (acks.length) {
    const who = el("span");
    who.append(`${acks[0].actor}, `, timeEl(acks[0].createdAt));
    fact(dl, "Acknowledged by", who);
  } else fact(dl, "Acknowledged", "not yet");
  fact(dl, "Cleared", alert.clearedAt ? timeEl(alert.clearedAt) : "still active");
  const resolution = alert.notes.find((n) => n.kind === "resolution");
  const actions = el("div", { class: "detail-actions" });
  if (!alert.acknowledged) actions.append(ackButton(alert.id));
  const forms = el("div", { class: "note-forms" });
  forms.append(noteForm(alert.id, "comments", "Add a comment", "Add comment"));
  if (!resolution) forms.append(noteForm(alert.id, "resolve", "Resolution note (what was done)", "Resolve"));
  else fact(dl, "Resolved", `${resolution.text} — ${resolution.author}`);
  box.replaceChildren(
    title, dl, actions, el("h3", {}, "Timeline"), timeline(alert), forms,
  );
}

function noteForm(alertId, action, label, buttonText) {
  const form = el("form", { class: `note ${action}` });
  const id = `note-${action}`;
  form.append(el("label", { for: id }, label));
  const text = el("textarea", { id, name: "text", rows: "2", maxlength: "2000", required: "" });
  form.append(text);
  form.append(el("button", { type: "submit", class: action === "resolve" ? "" : "secondary" }, buttonText));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await postJson(`/v1/alerts/${alertId}/${action}`, { text: text.value });
      text.value = "";
      state.etags = {};
      await loadAlertDetail(alertId);
    } catch (error) {
      if (error.message !== "unauthenticated") showError(error.message);
    }
  });
  return form;
}

// -- patient view and chart ---------------------------------------------------------------------

async function showPatient(userId, quiet = false) {
  try {
    if (!quiet || !state.patients.length) {
      state.patients = (await (await api("/v1/patients?limit=500")).json()).items;
    }
    const patient = state.patients.find((p) => p.userId === userId);
    if (!patient) throw new ApiError(`patient ${userId} is not one of the patients this key may see`);
    if (state.chart.userId !== userId) state.chart = { userId, span: 0 };
    const end = patient.readingAt ? new Date(new Date(patient.readingAt).getTime() + 60e3) : new Date();
    const span = state.chart.span || 7 * 86400;
    const since = new Date(end.getTime() - span * 1000);
    const params = new URLSearchParams({ since: since.toISOString(), until: end.toISOString() });
    const [readings, marks] = await Promise.all([
      api(`/v1/users/${userId}/readings?${params}&maxPoints=600`).then((r) => r.json()),
      api(`/v1/alerts?user=${userId}&${params}&limit=500`).then((r) => r.json()),
    ]);
    markUpdated();
    let t0 = since.getTime();
    let t1 = end.getTime();
    if (!state.chart.span && readings.points.length) { // "all data": span the data itself
      t0 = new Date(readings.points[0].at).getTime();
      t1 = new Date(readings.points[readings.points.length - 1].at).getTime() + (readings.bucketSeconds || 60) * 1000;
    }
    $("chart-title").textContent = `${patient.name || "Patient"} #${userId}`;
    const sub = el("span", { class: "muted" }, ` · ${localTime(new Date(t0).toISOString())} – ${localTime(new Date(t1).toISOString())}`
      + (readings.bucketSeconds ? ` · ${Math.round(readings.bucketSeconds / 60)} min means` : ""));
    $("chart-title").append(sub);
    for (const button of document.querySelectorAll(".zoom button")) {
      button.classList.toggle("on", Number(button.dataset.span) === state.chart.span);
    }
    const width = Math.max(320, Math.min(1100, $("chart").clientWidth || 800));
    $("chart").replaceChildren(drawChart(readings, marks.items, t0, t1, width));
    $("patient-alerts").replaceChildren(...marks.items.map((a) => alertItem(a, false)));
    if (!marks.items.length) $("patient-alerts").append(el("li", { class: "muted" }, "no alert in this range"));
  } catch (error) {
    $("chart").replaceChildren();
    $("patient-alerts").replaceChildren();
    $("chart-title").textContent = `Patient #${userId}`;
    if (error.message !== "unauthenticated") showError(error.message);
  }
}

function svg(tag, attrs = {}, text = "") {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text) node.textContent = text;
  return node;
}

function niceTicks(lo, hi, count = 4) {
  const raw = (hi - lo) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw) || raw;
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) ticks.push(Number(v.toFixed(6)));
  return ticks;
}

const TIME_STEPS = [300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800].map((s) => s * 1000);

function timeTicks(t0, t1, count) {
  const step = TIME_STEPS.find((s) => (t1 - t0) / s <= count) || TIME_STEPS[TIME_STEPS.length - 1];
  const offset = new Date(t0).getTimezoneOffset() * 60e3; // ticks on local round times
  const ticks = [];
  for (let t = Math.ceil((t0 - offset) / step) * step + offset; t <= t1; t += step) ticks.push(t);
  return { ticks, step };
}

function drawChart(readings, alerts, t0, t1, W) {
  const left = 40, right = 10, panelH = 92, gap = 20, top = 26;
  const panels = [
    { key: "heartRateBpm", label: "HR bpm", color: "#d1343a", unit: "bpm" },
    { key: "hrvRmssdMs", label: "HRV ms", color: "#2563c9", unit: "ms" },
    { key: "stressLevel", label: "stress", color: "#7a4cc2", min: 0, max: 10, unit: "/10" },
  ];
  const H = top + panels.length * (panelH + gap) + 4;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" });
  const span = Math.max(t1 - t0, 60e3);
  const x = (ms) => left + ((ms - t0) / span) * (W - left - right);
  const points = readings.points.map((p) => Object.assign({ ms: new Date(p.at).getTime() }, p));
  const { ticks: xTicks, step } = timeTicks(t0, t1, Math.max(3, Math.floor(W / 110)));
  panels.forEach((panel, index) => {
    const y0 = top + index * (panelH + gap);
    const values = points.map((p) => p[panel.key]).filter((v) => v !== null);
    let lo = panel.min ?? Math.min(...values, Infinity);
    let hi = panel.max ?? Math.max(...values, -Infinity);
    if (!Number.isFinite(lo) || !Number.isFinite(hi)) { lo = 0; hi = 1; }
    if (panel.min === undefined) { const pad = Math.max((hi - lo) * 0.1, 2); lo = Math.floor(lo - pad); hi = Math.ceil(hi + pad); }
    const y = (v) => y0 + panelH - ((v - lo) / (hi - lo)) * panelH;
    panel.y = y;
    root.append(svg("rect", { x: left, y: y0, width: W - left - right, height: panelH, class: "panel" }));
    for (const v of niceTicks(lo, hi)) {
      root.append(svg("line", { x1: left, x2: W - right, y1: y(v), y2: y(v), class: "grid" }));
      root.append(svg("text", { x: left - 4, y: y(v) + 4, "text-anchor": "end", class: "tick" }, String(v)));
    }
    for (const t of xTicks) root.append(svg("line", { x1: x(t), x2: x(t), y1: y0, y2: y0 + panelH, class: "grid" }));
    root.append(svg("text", { x: left + 4, y: y0 + 12, class: "panel-label" }, panel.label));
    let path = "";
    let pen = "M";
    let previous = null;
    for (const p of points) {
      const v = p[panel.key];
      const gapped = previous !== null && p.ms - previous > Math.max(3 * (readings.bucketSeconds || 60) * 1000, 180e3);
      if (v === null || gapped) pen = "M";
      if (v !== null) { path += `${pen}${x(p.ms).toFixed(1)},${y(v).toFixed(1)} `; pen = "L"; }
      previous = p.ms;
    }
    if (path) root.append(svg("path", { d: path, fill: "none", stroke: panel.color, "stroke-width": 1.6, class: "series" }));
  });
  const bottom = top + panels.length * (panelH + gap) - gap;
  for (const t of xTicks) {
    const d = new Date(t);
    const label = step >= 86400e3 ? d.toLocaleDateString([], { month: "short", day: "numeric" })
      : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    root.append(svg("text", { x: x(t), y: bottom + 14, "text-anchor": "middle", class: "tick" }, label));
  }
  // rhythm along the foot of the stress panel: irregular (purple), unreadable (grey: no verdict)
  for (const p of points) {
    if (p.arrhythmia === false || p.ms < t0 || p.ms > t1) continue;
    const mark = svg("rect", { x: x(p.ms) - 1.5, y: bottom - 7, width: 3, height: 6, class: "rhythm-mark", fill: p.arrhythmia ? "#7a4cc2" : "#9aa4b2" });
    mark.append(svg("title", {}, `${p.arrhythmia ? "irregular rhythm" : "rhythm unreadable"} · ${localTime(p.at)}`));
    root.append(mark);
  }
  let lane = 0;
  for (const alert of [...alerts].sort((a, b) => new Date(a.createdAt) - new Date(b.createdAt))) {
    const ms = new Date(alert.createdAt).getTime();
    if (ms < t0 || ms > t1) continue;
    const ax = x(ms);
    const color = SEVERITY_COLORS[alert.severity] || SEVERITY_COLORS.critical;
    const mark = svg("g", { class: "marker", "data-alert-id": String(alert.id) });
    mark.append(svg("line", { x1: ax, x2: ax, y1: top - 4, y2: bottom, stroke: color, "stroke-width": 2, "stroke-dasharray": "4 3" }));
    const label = svg("text", { x: ax + 3, y: 10 + (lane % 2) * 11, fill: color, class: "marker-label" }, TYPE_SHORT[alert.type] || alert.type);
    mark.append(label);
    mark.append(svg("title", {}, `${TYPE_NAMES[alert.type] || alert.type} ${alert.severity || ""} · ${localTime(alert.createdAt)} (${utcTitle(alert.createdAt)})`));
    mark.addEventListener("click", () => { location.hash = `#/alerts/${alert.id}`; });
    root.append(mark);
    lane += 1;
  }
  if (!points.length) root.append(svg("text", { x: W / 2, y: top + panelH / 2, "text-anchor": "middle", class: "tick" }, "no readings in this range"));
  const wrap = el("div", { class: "chart-wrap" });
  wrap.append(root);
  if (points.length) addHover(wrap, root, points, panels, x, t0, span, W, left, right, top, bottom);
  return wrap;
}

function addHover(wrap, root, points, panels, x, t0, span, W, left, right, top, bottom) {
  const cursor = svg("line", { x1: 0, x2: 0, y1: top, y2: bottom, class: "cursor", visibility: "hidden" });
  root.append(cursor);
  const tip = el("div", { class: "tip", role: "status" });
  tip.hidden = true;
  wrap.append(tip);
  const catcher = svg("rect", { x: left, y: top, width: W - left - right, height: bottom - top, class: "catcher" });
  root.append(catcher);
  const move = (event) => {
    const box = root.getBoundingClientRect();
    const vx = ((event.clientX - box.left) / box.width) * W;
    const ms = t0 + ((vx - left) / (W - left - right)) * span;
    let best = points[0];
    for (const p of points) if (Math.abs(p.ms - ms) < Math.abs(best.ms - ms)) best = p;
    const px = x(best.ms);
    cursor.setAttribute("x1", px); cursor.setAttribute("x2", px); cursor.setAttribute("visibility", "visible");
    const lines = [`${localTime(best.at)}  (${utcTitle(best.at)})`];
    for (const panel of panels) {
      const v = best[panel.key];
      lines.push(`${panel.label}: ${v === null ? "—" : Math.round(v * 10) / 10}`);
    }
    if (best.count > 1) lines.push(`mean of ${best.count} readings`);
    if (best.arrhythmia) lines.push("irregular rhythm");
    else if (best.arrhythmia === null) lines.push("rhythm unreadable");
    tip.replaceChildren(...lines.map((line) => el("div", {}, line)));
    tip.hidden = false;
    const across = (px / W) * wrap.clientWidth; // keep the tip inside the chart
    const tw = tip.offsetWidth;
    const room = wrap.clientWidth - tw;
    const leftPx = across + 8 <= room ? across + 8 : Math.max(0, Math.min(room, across - 8 - tw));
    tip.style.left = `${leftPx}px`;
  };
  catcher.addEventListener("pointermove", move);
  catcher.addEventListener("pointerdown", move);
  catcher.addEventListener("pointerleave", () => { tip.hidden = true; cursor.setAttribute("visibility", "hidden"); });
}

// -- wiring ---------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY_STORE, $("key-input").value.trim());
    $("key-input").value = "";
    start();
  });
  $("forget").addEventListener("click", () => { sessionStorage.removeItem(KEY_STORE); showKeyForm(""); });
  $("filters").addEventListener("submit", (event) => { event.preventDefault(); state.etags.alerts = null; loadAlerts(true); });
  $("more").addEventListener("click", () => loadAlerts(false));
  $("csv").addEventListener("click", downloadCsv);
  $("bulk-ack").addEventListener("click", bulkAck);
  let searchTimer = null;
  $("p-search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => { state.etags.patients = null; loadPatients(); }, 250);
  });
  for (const button of document.querySelectorAll(".zoom button")) {
    button.addEventListener("click", () => {
      state.chart.span = Number(button.dataset.span);
      showPatient(state.chart.userId, true);
    });
  }
  window.addEventListener("hashchange", () => { if (sessionStorage.getItem(KEY_STORE)) route(); });
  // the link in caregivers' texts is /?alert=ID: show that alert's detail view
  const linked = new URLSearchParams(location.search).get("alert");
  if (/^[0-9]+$/.test(linked || "")) history.replaceState(null, "", `${location.pathname}#/alerts/${linked}`);
  setInterval(refresh, POLL_MS);
  if (sessionStorage.getItem(KEY_STORE)) start(); else showKeyForm("");
});
