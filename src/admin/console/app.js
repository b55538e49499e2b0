// The noisegate console: plain JavaScript over the admin API, no dependency, no build step.
"use strict";

const $ = (selector) => document.querySelector(selector);
const params = new URLSearchParams(location.search);
// How often the live figures are read (tests ask for faster).
const INTERVAL = Math.max(100, Number(params.get("interval")) || 2000);
const SAMPLES = 150;

function text(value) {
  const span = document.createElement("span");
  span.textContent = value == null ? "" : String(value);
  return span;
}

function cell(row, content) {
  const td = document.createElement("td");
  if (content instanceof Node) td.append(content); else td.textContent = content == null ? "" : String(content);
  row.append(td);
  return td;
}

function tier(name) {
  const badge = text(name.replace("page_", "page "));
  badge.className = "tier " + name;
  return badge;
}

function labelList(labels) {
  const span = document.createElement("span");
  span.className = "labels";
  for (const [name, value] of Object.entries(labels || {})) {
    const code = document.createElement("code");
    code.textContent = `${name}="${value}"`;
    span.append(code);
  }
  return span;
}

function title(incident) {
  const labels = Object.entries(incident.group_labels || {}).map(([, value]) => value).join(" · ");
  const cause = incident.probable_cause ? ` — probable cause: ${incident.probable_cause.kind} ${incident.probable_cause.entity}` : "";
  return (labels || incident.id) + cause;
}

// --- the API, with the admin token when the instance wants one ---------------------------

function token() { return sessionStorage.getItem("noisegate-token"); }

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers);
  if (token()) headers.Authorization = "Bearer " + token();
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 401) {
    $("#token").hidden = false;
    throw new Error("a valid admin token is needed");
  }
  const body = (response.headers.get("content-type") || "").includes("json") ? await response.json() : await response.text();
  if (!response.ok) throw new Error(body && body.error ? body.error : `${response.status}`);
  return body;
}

$("#token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem("noisegate-token", $("#token-input").value);
  $("#token").hidden = true;
  route();
});

function status(message, isError) {
  $("#status").textContent = message;
  $("#status").className = isError ? "error" : "muted";
}

// --- views ---------------------------------------------------------------------------------

async function showIncidents() {
  const incidents = await api("/api/v1/incidents");
  const body = $("#incidents tbody");
  body.replaceChildren();
  for (const incident of incidents) {
    const row = document.createElement("tr");
    row.className = "link";
    row.dataset.id = incident.id;
    cell(row, tier(incident.tier));
    cell(row, title(incident));
    cell(row, incident.score.toFixed(2));
    cell(row, incident.firing);
    cell(row, new Date(incident.opened_at).toLocaleString());
    cell(row, incident.on_pagerduty ? "open" : "—");
    row.addEventListener("click", () => { location.hash = "#/incidents/" + encodeURIComponent(incident.id); });
    body.append(row);
  }
  $("#incidents-empty").hidden = incidents.length > 0;
}

async function showIncident(id) {
  const incident = await api("/api/v1/incidents/" + encodeURIComponent(id));
  $("#incident-title").replaceChildren(tier(incident.tier), text(" " + title(incident)));
  $("#incident-meta").textContent =
    `${incident.id} · opened ${new Date(incident.opened_at).toLocaleString()} · score ${incident.score.toFixed(2)} · ` +
    (incident.on_pagerduty ? "open on PagerDuty" : "not on PagerDuty");
  $("#incident-why").replaceChildren(...incident.why.map((part) => {
    const item = document.createElement("li");
    item.textContent = `${part.feature} ${part.contribution >= 0 ? "+" : ""}${part.contribution.toFixed(2)}: ${part.note}`;
    return item;
  }));
  const alerts = $("#incident-alerts tbody");
  alerts.replaceChildren();
  for (const alert of incident.alerts) {
    const row = document.createElement("tr");
    cell(row, alert.firing ? "firing" : "resolved");
    cell(row, labelList(alert.labels));
    alerts.append(row);
  }
  const logs = $("#incident-logs tbody");
  logs.replaceChildren();
  for (const line of incident.log_context) {
    const row = document.createElement("tr");
    cell(row, line.service);
    cell(row, line.template);
    cell(row, line.lines);
    cell(row, line.errors);
    logs.append(row);
  }
  $("#incident-logs-empty").hidden = incident.log_context.length > 0;
  const similar = incident.similar || [];
  $("#incident-similar").replaceChildren(...similar.map((past) => {
    const item = document.createElement("li");
    item.textContent = `${Math.round(past.similarity * 100)}% like ${past.title}, ` +
      `${new Date(past.opened_at).toLocaleString()}, ${Math.round(past.minutes)} minutes: ${past.ended}`;
    for (const note of past.notes || []) {
      const quote = document.createElement("blockquote");
      quote.textContent = note;
      item.append(quote);
    }
    return item;
  }));
  $("#incident-similar-empty").hidden = similar.length > 0;
  $("#incident-timeline").replaceChildren(...incident.timeline.map((entry) => {
    const item = document.createElement("li");
    item.textContent = `${new Date(entry.at).toLocaleString()}: ${entry.decision} (${entry.tier}, score ${entry.score})`;
    return item;
  }));
  $("#incident-silence").onclick = () => {
    const matchers = Object.entries(incident.group_labels).map(([name, value]) => `${name}="${value}"`);
    location.hash = "#/silences";
    $("#silence-matchers").value = matchers.join("\n");
    $("#silence-comment").value = "from incident " + incident.id;
  };
}

async function showSilences() {
  const silences = await api("/api/v1/silences");
  const body = $("#silences tbody");
  body.replaceChildren();
  for (const silence of silences) {
    const row = document.createElement("tr");
    row.dataset.id = silence.id;
    row.dataset.state = silence.state;
    cell(row, silence.state);
    cell(row, silence.matchers.join(", "));
    cell(row, silence.endsAt ? new Date(silence.endsAt).toLocaleString() : (silence.weekly ? "weekly" : ""));
    cell(row, silence.comment);
    cell(row, silence.createdBy);
    const actions = cell(row, "");
    if (silence.expirable && silence.state !== "expired") {
      const button = document.createElement("button");
      button.textContent = "Expire";
      button.addEventListener("click", async () => {
        try {
          await api("/api/v1/silences/" + encodeURIComponent(silence.id), { method: "DELETE" });
          await showSilences();
        } catch (error) { status(error.message, true); }
      });
      actions.append(button);
    }
    body.append(row);
  }
}

$("#silence-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const matchers = $("#silence-matchers").value.split("\n").map((line) => line.trim()).filter(Boolean);
  const request = { matchers, duration: $("#silence-duration").value.trim(), comment: $("#silence-comment").value, createdBy: "console" };
  try {
    const created = await api("/api/v1/silences", {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(request),
    });
    $("#silence-result").textContent = "created " + created.id;
    $("#silence-result").className = "muted";
    await showSilences();
  } catch (error) {
    $("#silence-result").textContent = error.message;
    $("#silence-result").className = "error";
  }
});

// --- the inventory: a layered dependency graph and the nodes and pods ----------------------

const SVG = "http://www.w3.org/2000/svg";
const BOX = { width: 170, height: 38, column: 230, row: 56, margin: 12 };

function svg(name, attributes, parent) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  parent.append(element);
  return element;
}

function when(time) { return time ? new Date(time).toLocaleString() : "—"; }

// Each service's column: the longest chain of calls from an entry point to it (a loop of calls
// stops growing once it is as long as the list).
function depths(services, edges) {
  const depth = new Map(services.map((service) => [service.name, 0]));
  for (let round = 0; round < services.length; round++) {
    let moved = false;
    for (const edge of edges) {
      if (!depth.has(edge.from) || !depth.has(edge.to)) continue;
      const next = depth.get(edge.from) + 1;
      if (next > depth.get(edge.to) && next < services.length) { depth.set(edge.to, next); moved = true; }
    }
    if (!moved) break;
  }
  return depth;
}

function drawGraph(graph, services, edges) {
  graph.replaceChildren();
  const depth = depths(services, edges);
  const columns = [];
  for (const service of services) (columns[depth.get(service.name)] ||= []).push(service);
  const at = new Map();
  columns.forEach((column, x) => column.forEach((service, y) => {
    at.set(service.name, { x: BOX.margin + x * BOX.column, y: BOX.margin + y * BOX.row });
  }));
  const rows = Math.max(1, ...columns.map((column) => (column || []).length));
  graph.setAttribute("width", 2 * BOX.margin + Math.max(0, columns.length - 1) * BOX.column + BOX.width);
  graph.setAttribute("height", 2 * BOX.margin + (rows - 1) * BOX.row + BOX.height);
  const marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" }, svg("defs", {}, graph));
  svg("path", { d: "M0,0 L10,5 L0,10 z" }, marker);
  for (const edge of edges) {
    const from = at.get(edge.from), to = at.get(edge.to);
    if (!from || !to) continue;
    const [x1, y1, x2, y2] = [from.x + BOX.width, from.y + BOX.height / 2, to.x, to.y + BOX.height / 2];
    const bend = Math.max(40, Math.abs(x2 - x1) / 2);
    const path = svg("path", {
      class: "edge" + (edge.source === "config" ? "" : " learned"),
      d: `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`, "marker-end": "url(#arrow)",
    }, graph);
    svg("title", {}, path).textContent = `${edge.from} calls ${edge.to} (${edge.source}, last seen ${when(edge.last_seen)})`;
  }
  for (const service of services) {
    const { x, y } = at.get(service.name);
    const open = service.incidents.length;
    const classes = ["service", service.kind ? "datastore" : "", open ? "incident" : "", service.source === "config" ? "" : "learned"];
    const box = open
      ? svg("a", { href: open === 1 ? "#/incidents/" + encodeURIComponent(service.incidents[0]) : "#/incidents" }, graph)
      : svg("g", {}, graph);
    box.setAttribute("class", classes.filter(Boolean).join(" "));
    box.setAttribute("data-service", service.name);
    svg("rect", { x, y, width: BOX.width, height: BOX.height, rx: service.kind ? 16 : 4 }, box);
    const name = service.name.length > 22 ? service.name.slice(0, 21) + "…" : service.name;
    svg("text", { x: x + 10, y: y + 16 }, box).textContent = name;
    svg("text", { x: x + 10, y: y + 31, class: "sub" }, box).textContent = [service.kind, service.source].filter(Boolean).join(" · ");
    if (open) {
      svg("circle", { cx: x + BOX.width - 4, cy: y + 4, r: 10 }, box);
      svg("text", { x: x + BOX.width - 4, y: y + 8, class: "count" }, box).textContent = open;
    }
    svg("title", {}, box).textContent = `${service.name}${service.entry_point ? " (entry point)" : ""}: ${service.source}, ` +
      `last seen ${when(service.last_seen)}` + (open ? `; ${open} open incident(s)` : "");
  }
}

async function showInventory() {
  const inventory = await api("/api/v1/inventory");
  drawGraph($("#graph"), inventory.services, inventory.edges);
  $("#inventory-empty").hidden = inventory.services.length > 0;
  const nodes = $("#inventory-nodes tbody");
  nodes.replaceChildren();
  for (const node of inventory.nodes) {
    const row = document.createElement("tr");
    for (const value of [node.name, node.source, when(node.last_seen)]) cell(row, value);
    nodes.append(row);
  }
  const pods = $("#inventory-pods tbody");
  pods.replaceChildren();
  for (const pod of inventory.pods) {
    const row = document.createElement("tr");
    for (const value of [pod.name, pod.service, pod.node || "—", pod.source, when(pod.last_seen)]) cell(row, value);
    pods.append(row);
  }
}

// The on-call report: the same HTML as `noisegate report`, from the admin API, shown in a
// sandboxed frame (it has no script) and offered as a file.
async function showOncall() {
  const period = $("#oncall-period").value;
  const html = await api("/api/v1/oncall?format=html&from=" + encodeURIComponent(period));
  $("#oncall-report").srcdoc = html;
  const link = $("#oncall-download");
  if (link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(new Blob([html], { type: "text/html" }));
  link.download = `oncall-report-${period}.html`;
}

$("#oncall-period").addEventListener("change", () => showOncall().catch((error) => status(error.message, true)));

async function showConfig() {
  $("#config").textContent = await api("/api/v1/config");
}

// --- the live chart: rates between samples of the counters ----------------------------------

const samples = [];

async function sample() {
  try {
    const stats = await api("/api/v1/stats");
    samples.push({ at: performance.now(), alerts: stats.alert_events, pages: stats.pages });
    if (samples.length > SAMPLES) samples.shift();
    draw();
    status(`${stats.active_alerts} active alerts · ${stats.incidents_opened} incidents opened`);
  } catch (error) {
    status(error.message, true);
  }
}

function path(points, height) {
  const most = Math.max(1e-9, ...points);
  const step = 600 / Math.max(1, SAMPLES - 1);
  const offset = (SAMPLES - points.length) * step;
  return points.map((value, index) => `${index ? "L" : "M"}${(offset + index * step).toFixed(1)},${(height - 4 - value / most * (height - 12)).toFixed(1)}`).join(" ");
}

function draw() {
  if (samples.length < 2) return;
  const alerts = [], pages = [];
  for (let index = 1; index < samples.length; index++) {
    const seconds = Math.max(0.001, (samples[index].at - samples[index - 1].at) / 1000);
    alerts.push((samples[index].alerts - samples[index - 1].alerts) / seconds);
    pages.push((samples[index].pages - samples[index - 1].pages) / seconds * 60);
  }
  $("#chart path.alerts").setAttribute("d", path(alerts, 140));
  $("#chart path.pages").setAttribute("d", path(pages, 140));
  const first = samples[0], last = samples[samples.length - 1];
  const alertsIn = last.alerts - first.alerts, pagesOut = last.pages - first.pages;
  const minutes = ((last.at - first.at) / 60000).toFixed(1);
  $("#noise").textContent = alertsIn > 0
    ? `noise ratio ${((1 - pagesOut / alertsIn) * 100).toFixed(1)}%: ${alertsIn} alert events, ${pagesOut} pages in ${minutes} min`
    : `no alert events in ${minutes} min`;
}

// --- routing -------------------------------------------------------------------------------

async function route() {
  const [, view, id] = (location.hash || "#/incidents").split("/");
  for (const section of document.querySelectorAll("main > section[id^=view-]")) section.hidden = true;
  for (const link of document.querySelectorAll("nav a")) link.classList.toggle("current", link.dataset.view === view);
  const shown = { incidents: id ? "incident" : "incidents", inventory: "inventory", oncall: "oncall", silences: "silences", config: "config" }[view] || "incidents";
  $("#view-" + shown).hidden = false;
  try {
    if (shown === "incidents") await showIncidents();
    else if (shown === "incident") await showIncident(decodeURIComponent(id));
    else if (shown === "inventory") await showInventory();
    else if (shown === "oncall") await showOncall();
    else if (shown === "silences") await showSilences();
    else await showConfig();
  } catch (error) {
    status(error.message, true);
  }
}

window.addEventListener("hashchange", route);
route();
sample();
setInterval(sample, INTERVAL);
// The incident list follows the live state.
setInterval(() => { if (!$("#view-incidents").hidden) showIncidents().catch(() => {}); }, Math.max(INTERVAL, 2000));
setInterval(() => { if (!$("#view-inventory").hidden) showInventory().catch(() => {}); }, Math.max(INTERVAL, 5000));
