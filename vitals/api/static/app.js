// vitals alert history page: no framework, no build step. Every value from the API is
// written with textContent (never innerHTML), and the page loads nothing from elsewhere.
"use strict";

const KEY_STORE = "vitals.apiKey";
const PAGE_SIZE = 50;
const SVG_NS = "http://www.w3.org/2000/svg";
const TYPE_NAMES = {
  fall_detected: "Fall", arrhythmia: "Arrhythmia", high_heart_rate: "High heart rate",
  low_heart_rate: "Low heart rate", high_stress: "High stress", sos: "SOS",
};
const SEVERITY_COLORS = { critical: "#b42318", high: "#c4320a", medium: "#b54708", low: "#3b7c0f" };
const state = { cursor: null, shown: 0, chartUser: null };
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text) node.textContent = text;
  return node;
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

async function api(path, options = {}) {
  const key = sessionStorage.getItem(KEY_STORE);
  const headers = Object.assign({ Authorization: `Bearer ${key}` }, options.headers || {});
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 401) {
    sessionStorage.removeItem(KEY_STORE);
    showKeyForm("That key was refused (missing, wrong or revoked). Enter a valid key.");
    throw new Error("unauthenticated");
  }
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try { detail = (await response.json()).detail || detail; } catch (_) { /* not JSON */ }
    showError(detail);
    throw new Error(detail);
  }
  return response;
}

function showKeyForm(message) {
  $("app").hidden = true;
  $("who").hidden = true;
  $("key-form").hidden = false;
  const hint = $("key-form").querySelector(".hint");
  if (message) { hint.textContent = message; hint.classList.add("error"); }
}

async function start() {
  $("key-form").hidden = true;
  $("app").hidden = false;
  showError("");
  try {
    const me = await (await api("/v1/me")).json();
    const scope = me.role === "admin" ? "all patients" : `patients ${me.patientIds.join(", ") || "none"}`;
    $("who-text").textContent = `${me.name || "key " + me.id} · ${me.role} · ${scope}`;
    $("who").hidden = false;
    await loadAlerts(true);
  } catch (_) { /* shown already */ }
}

function filterParams() {
  const params = new URLSearchParams();
  const user = $("f-user").value.trim();
  if (user) params.set("user", user);
  for (const [id, name] of [["f-type", "type"], ["f-severity", "severity"], ["f-ack", "acknowledged"]]) {
    if ($(id).value) params.set(name, $(id).value);
  }
  if ($("f-since").value) params.set("since", `${$("f-since").value}T00:00:00Z`);
  if ($("f-until").value) {
    const end = new Date(`${$("f-until").value}T00:00:00Z`);
    end.setUTCDate(end.getUTCDate() + 1);
    params.set("until", end.toISOString());
  }
  return params;
}

async function loadAlerts(reset) {
  const params = filterParams();
  params.set("limit", String(PAGE_SIZE));
  if (!reset && state.cursor) params.set("cursor", state.cursor);
  const page = await (await api(`/v1/alerts?${params}`)).json();
  if (reset) { $("alerts").replaceChildren(); state.shown = 0; showError(""); }
  for (const alert of page.items) $("alerts").append(alertItem(alert));
  state.shown += page.items.length;
  state.cursor = page.nextCursor;
  $("more").hidden = !page.nextCursor;
  $("count").textContent = state.shown ? `${state.shown}${page.nextCursor ? "+" : ""} shown` : "none match";
}

function formatTime(iso) {
  const t = new Date(iso);
  return t.toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

function alertItem(alert) {
  const item = el("li", { class: "alert", "data-alert-id": String(alert.id) });
  item.append(el("time", { datetime: alert.createdAt }, formatTime(alert.createdAt)));
  const what = el("div", { class: "what" });
  what.append(el("strong", {}, TYPE_NAMES[alert.type] || alert.type));
  if (alert.severity) what.append(el("span", { class: `badge ${alert.severity}` }, alert.severity));
  const patient = el("button", { type: "button", class: "patient", "data-user-id": String(alert.userId) },
    `${alert.userName || "patient"} #${alert.userId}`);
  patient.addEventListener("click", () => showChart(alert.userId, alert.userName, alert.createdAt));
  what.append(" ", patient);
  what.append(el("div", { class: "msg" }, alert.message || ""));
  item.append(what);
  item.append(ackCell(alert));
  return item;
}

function ackCell(alert) {
  if (alert.acknowledged) return el("span", { class: "state" }, "✓ acknowledged");
  const button = el("button", { type: "button", class: "ack" }, "Acknowledge");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await api(`/v1/alerts/${alert.id}/ack`, { method: "POST" });
      button.replaceWith(el("span", { class: "state" }, "✓ acknowledged"));
    } catch (_) { button.disabled = false; }
  });
  return button;
}

async function downloadCsv(event) {
  event.preventDefault();
  try {
    const blob = await (await api(`/v1/alerts.csv?${filterParams()}`)).blob();
    const link = el("a", { href: URL.createObjectURL(blob), download: "alerts.csv" });
    document.body.append(link);
    link.click();
    link.remove();
  } catch (_) { /* shown already */ }
}

async function showChart(userId, userName, aroundIso) {
  const params = new URLSearchParams();
  let until = $("f-until").value ? new Date(`${$("f-until").value}T00:00:00Z`) : null;
  if (until) until.setUTCDate(until.getUTCDate() + 1);
  else until = new Date(new Date(aroundIso).getTime() + 2 * 3600e3);
  const since = $("f-since").value ? new Date(`${$("f-since").value}T00:00:00Z`)
    : new Date(until.getTime() - 6 * 3600e3);
  params.set("since", since.toISOString());
  params.set("until", until.toISOString());
  try {
    const [readings, marks] = await Promise.all([
      api(`/v1/users/${userId}/readings?${params}&maxPoints=400`).then((r) => r.json()),
      api(`/v1/alerts?user=${userId}&${params}&limit=500`).then((r) => r.json()),
    ]);
    state.chartUser = userId;
    $("chart-title").textContent = `${userName || "Patient"} #${userId} · ${formatTime(since.toISOString())} – ${formatTime(until.toISOString())}`
      + (readings.bucketSeconds ? ` · ${Math.round(readings.bucketSeconds / 60)} min means` : "");
    $("chart-card").hidden = false;
    const width = Math.max(320, Math.min(1000, $("chart").clientWidth || 800));
    $("chart").replaceChildren(drawChart(readings, marks.items, since, until, width));
    $("chart-card").scrollIntoView({ behavior: "smooth", block: "start" });
  } catch (_) { /* shown already */ }
}

function svg(tag, attrs = {}, text = "") {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text) node.textContent = text;
  return node;
}

function drawChart(readings, alerts, since, until, W) {
  const left = 34, right = 10, panelH = 90, gap = 22, top = 8;
  const panels = [
    { key: "heartRateBpm", label: "HR bpm", color: "#d1343a" },
    { key: "hrvRmssdMs", label: "HRV ms", color: "#2563c9" },
    { key: "stressLevel", label: "stress", color: "#7a4cc2", min: 0, max: 10 },
  ];
  const H = top + panels.length * (panelH + gap) + 14;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" });
  const t0 = since.getTime(), t1 = until.getTime();
  const x = (iso) => left + ((new Date(iso).getTime() - t0) / (t1 - t0)) * (W - left - right);
  panels.forEach((panel, index) => {
    const y0 = top + index * (panelH + gap);
    const values = readings.points.map((p) => p[panel.key]).filter((v) => v !== null);
    let lo = panel.min ?? Math.floor(Math.min(...values, Infinity) - 5);
    let hi = panel.max ?? Math.ceil(Math.max(...values, -Infinity) + 5);
    if (!Number.isFinite(lo) || !Number.isFinite(hi)) { lo = 0; hi = 1; }
    const y = (v) => y0 + panelH - ((v - lo) / (hi - lo)) * panelH;
    root.append(svg("rect", { x: left, y: y0, width: W - left - right, height: panelH, fill: "#fafbfc", stroke: "#d8dee5" }));
    root.append(svg("text", { x: left + 4, y: y0 + 12 }, panel.label));
    root.append(svg("text", { x: left - 4, y: y0 + 10, "text-anchor": "end" }, String(hi)));
    root.append(svg("text", { x: left - 4, y: y0 + panelH, "text-anchor": "end" }, String(lo)));
    let path = "";
    let pen = "M";
    for (const point of readings.points) {
      const v = point[panel.key];
      if (v === null) { pen = "M"; continue; }
      path += `${pen}${x(point.at).toFixed(1)},${y(v).toFixed(1)} `;
      pen = "L";
    }
    if (path) root.append(svg("path", { d: path, fill: "none", stroke: panel.color, "stroke-width": 1.6 }));
  });
  // rhythm under the stress panel: irregular (purple), unreadable (grey, null verdict)
  for (const point of readings.points) {
    if (point.arrhythmia === false) continue;
    const mark = svg("rect", { x: x(point.at) - 1.5, y: H - 24, width: 3, height: 6, fill: point.arrhythmia ? "#7a4cc2" : "#9aa4b2" });
    mark.append(svg("title", {}, `${point.arrhythmia ? "irregular rhythm" : "rhythm unreadable"} · ${formatTime(point.at)}`));
    root.append(mark);
  }
  for (const alert of alerts) {
    const ax = x(alert.createdAt);
    if (ax < left || ax > W - right) continue;
    const color = SEVERITY_COLORS[alert.severity] || SEVERITY_COLORS.critical;
    const line = svg("line", { x1: ax, x2: ax, y1: top, y2: H - 14, stroke: color, "stroke-width": 2, "stroke-dasharray": "4 3", class: "marker" });
    line.append(svg("title", {}, `${TYPE_NAMES[alert.type] || alert.type} ${alert.severity || ""} · ${formatTime(alert.createdAt)}`));
    root.append(line);
  }
  const span = t1 - t0;
  for (let i = 0; i <= 4; i += 1) {
    const t = new Date(t0 + (span * i) / 4);
    const label = span > 3 * 86400e3 ? t.toISOString().slice(5, 10) : t.toISOString().slice(11, 16);
    root.append(svg("text", { x: left + ((W - left - right) * i) / 4, y: H - 2, "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle" }, label));
  }
  return root;
}

document.addEventListener("DOMContentLoaded", () => {
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY_STORE, $("key-input").value.trim());
    $("key-input").value = "";
    start();
  });
  $("forget").addEventListener("click", () => { sessionStorage.removeItem(KEY_STORE); showKeyForm(""); });
  $("filters").addEventListener("submit", (event) => { event.preventDefault(); loadAlerts(true).catch(() => {}); });
  $("more").addEventListener("click", () => loadAlerts(false).catch(() => {}));
  $("csv").addEventListener("click", downloadCsv);
  if (sessionStorage.getItem(KEY_STORE)) start(); else showKeyForm("");
});
