// Operations centre: the grid tree with firing counts per node and the firing alerts
// (both kept live over SSE), and the incident queue with its lifecycle actions.
"use strict";

// Mirrors store.opstate_incidents.TRANSITIONS; the server still decides (409 + reason).
const NEXT = {
  open: ["dispatched", "acknowledged", "resolved"],
  dispatched: ["acknowledged", "resolved"],
  acknowledged: ["dispatched", "resolved"],
  resolved: ["closed", "dispatched"],
  closed: [],
};
const RETRY_MS = 5000;

I18N.onChange.push(() => renderAll());
const DICT = {
  zh: {
    title: "街道运营中心", logout: "退出", board: "告警值班板", health: "设备健康",
    reconnecting: "连接中断，正在重连…", tree: "网格 (1-4-27-60) 告警数", firing: "正在告警",
    severity: "级别", type: "类型", device: "设备", grid: "网格", started: "开始时间",
    status: "状态", incident: "事件", queue: "事件处置队列", active: "未关闭",
    noIncidents: "暂无事件", history: "处置记录", alerts: "关联告警",
    st_open: "待派单", st_dispatched: "已派单", st_acknowledged: "已接单", st_resolved: "已处置",
    st_closed: "已关闭", do_dispatched: "派单", do_acknowledged: "接单确认", do_resolved: "处置完成",
    do_closed: "结案", notePrompt: "请填写说明（派单单位、处置情况等）", failed: "操作失败：",
    firingSt: "告警中", ackedSt: "已确认", all: "全街道",
    sev_critical: "紧急", sev_major: "重要", sev_minor: "次要", sev_warning: "警告", sev_info: "提示",
  },
  en: {
    title: "Street operations centre", logout: "Sign out", board: "Alert board",
    health: "Device health", reconnecting: "Connection lost, reconnecting…",
    tree: "Grid (1-4-27-60) firing counts", firing: "Firing", severity: "Severity", type: "Type",
    device: "Device", grid: "Grid", started: "Started", status: "Status", incident: "Incident",
    queue: "Incident queue", active: "Not closed", noIncidents: "No incidents",
    history: "History", alerts: "Alerts", st_open: "open", st_dispatched: "dispatched",
    st_acknowledged: "acknowledged", st_resolved: "resolved", st_closed: "closed",
    do_dispatched: "Dispatch", do_acknowledged: "Acknowledge", do_resolved: "Resolve",
    do_closed: "Close", notePrompt: "Note (unit dispatched to, what was done…)",
    failed: "Failed: ", firingSt: "firing", ackedSt: "acknowledged", all: "whole street",
    sev_critical: "critical", sev_major: "major", sev_minor: "minor", sev_warning: "warning",
    sev_info: "info",
  },
};

let roots = [];
const alerts = new Map(); // firing alerts by id
let incidents = [];
let selected = null; // grid path filter from the tree
let lastSeq = null;
let source = null;
const canAct = ["ops", "admin"].includes(document.body.dataset.role);

function inScope(grid, path) {
  return path === null || grid === path || grid.startsWith(path + "/");
}

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}

function renderTree() {
  const firing = [...alerts.values()];
  const build = (node) => {
    const li = el("li");
    const row = el("div", undefined, `kind-${node.kind}` + (selected === node.path ? " selected" : ""));
    row.dataset.path = node.path;
    const n = firing.filter((a) => inScope(a.grid, node.path)).length;
    row.append(el("span", I18N.lang === "en" && node.name_en ? node.name_en : node.name),
      el("span", String(n), n ? "count hot" : "count"));
    row.addEventListener("click", () => {
      selected = selected === node.path ? null : node.path;
      renderAll();
    });
    li.appendChild(row);
    if (node.children.length) {
      const ul = el("ul");
      ul.append(...node.children.map(build));
      li.appendChild(ul);
    }
    return li;
  };
  const ul = el("ul");
  ul.append(...roots.map(build));
  document.getElementById("tree").replaceChildren(ul);
}

function renderAlerts() {
  document.getElementById("selected").textContent = selected ?? I18N.t("all");
  const list = [...alerts.values()].filter((a) => inScope(a.grid, selected))
    .sort((a, b) => Date.parse(b.started_at) - Date.parse(a.started_at));
  const rows = list.map((a) => {
    const tr = el("tr", undefined, `sev-${a.severity}` + (a.acked_by ? " acked" : ""));
    tr.dataset.alertId = String(a.id);
    const status = a.acked_by ? `${I18N.t("ackedSt")} · ${a.acked_by}` : I18N.t("firingSt");
    for (const [text, cls] of [[I18N.t(`sev_${a.severity}`), "sev"], [a.type, "type"], [a.device, "device"],
      [a.grid, "grid"], [I18N.time(a.started_at), "time"], [status, "status"],
      [a.incident_id ?? "", "incident"]]) tr.appendChild(el("td", String(text), cls));
    return tr;
  });
  document.querySelector("#alerts tbody").replaceChildren(...rows);
}

function incidentCard(inc) {
  const card = el("div", undefined, "incident");
  card.dataset.incidentId = String(inc.id);
  card.dataset.status = inc.status;
  const head = el("div", undefined, "head");
  head.append(el("b", `#${inc.id}`), el("span", I18N.t(`st_${inc.status}`), `status ${inc.status}`),
    el("span", inc.grid), el("span", I18N.time(inc.created_at)));
  for (const to of canAct ? NEXT[inc.status] ?? [] : []) {
    const button = el("button", I18N.t(`do_${to}`));
    button.type = "button";
    button.dataset.to = to;
    button.addEventListener("click", () => transition(inc.id, to));
    head.appendChild(button);
  }
  const linked = inc.alerts.map((id) => {
    const a = alerts.get(id);
    return a ? `#${id} ${a.type} ${a.device}` : `#${id}`;
  });
  const history = el("ol");
  history.append(...inc.history.map((h) => el("li",
    `${I18N.time(h.when)} ${h.who}: ${h.from ? I18N.t(`st_${h.from}`) + " → " : ""}` +
    `${I18N.t(`st_${h.to}`)}${h.note ? ` — ${h.note}` : ""}`)));
  card.append(head, el("div", `${I18N.t("alerts")}: ${linked.join(", ")}`, "linked"),
    el("div", I18N.t("history"), "history-title"), history);
  return card;
}

function renderQueue() {
  const shown = incidents.filter((i) => inScope(i.grid, selected));
  document.getElementById("queue").replaceChildren(...shown.map(incidentCard));
  document.getElementById("queue-empty").hidden = shown.length > 0;
}

function renderAll() {
  renderTree();
  renderAlerts();
  renderQueue();
}

async function loadIncidents() {
  const status = document.getElementById("queue-status").value;
  try {
    const found = await apiGet(`/api/v1/incidents?limit=200${status ? `&status=${status}` : ""}`);
    incidents = status ? found : found.filter((i) => i.status !== "closed");
  } catch (err) {
    console.warn("incidents", err); // e.g. 403 for a maintenance unit: no queue for it
    incidents = [];
  }
  renderQueue();
}

async function transition(id, to) {
  const note = window.prompt(I18N.t("notePrompt"), "");
  if (note === null) return;
  const resp = await fetch(`/api/v1/incidents/${id}/transition`, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json" }, body: JSON.stringify({ to, note }),
  });
  if (!resp.ok) {
    const body = await resp.json().catch(() => ({}));
    window.alert(I18N.t("failed") + JSON.stringify(body.detail ?? resp.status));
  }
  await loadIncidents();
}

function upsert(a) {
  if (a.status === "resolved") alerts.delete(a.id);
  else alerts.set(a.id, a);
}

function openStream() {
  const query = lastSeq === null ? "" : `?last_event_id=${encodeURIComponent(lastSeq)}`;
  source = new EventSource(`/api/v1/alerts/stream${query}`);
  source.addEventListener("open", () => { document.getElementById("banner").hidden = true; });
  source.addEventListener("alert", (ev) => {
    lastSeq = ev.lastEventId || lastSeq;
    const a = JSON.parse(ev.data);
    upsert(a);
    renderTree();
    renderAlerts();
    // A new incident, or an alert joining one, shows in the queue at once.
    if (a.incident_id !== null) loadIncidents().catch((err) => console.warn(err));
  });
  source.addEventListener("error", () => {
    document.getElementById("banner").hidden = false;
    if (source.readyState === EventSource.CLOSED) setTimeout(start, RETRY_MS);
  });
}

async function start() {
  try {
    if (source) source.close();
    roots = await apiGet("/api/v1/grids");
    const resp = await fetch("/api/v1/alerts?status=firing&limit=1000", { credentials: "same-origin" });
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    const seq = resp.headers.get("X-Log-Seq");
    alerts.clear();
    for (const a of await resp.json()) upsert(a);
    if (seq !== null) lastSeq = seq;
    renderAll();
    await loadIncidents();
    document.body.dataset.loaded = "1";
    openStream();
  } catch (err) {
    console.warn("ops load failed", err);
    document.getElementById("banner").hidden = false;
    setTimeout(start, RETRY_MS);
  }
}

document.getElementById("queue-status").addEventListener("change", () => loadIncidents());
I18N.init(DICT);
start();
