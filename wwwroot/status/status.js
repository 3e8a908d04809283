// The operator's status page: polls /status/data (camelCase JSON, docs/operations.md) and draws it. No third-party
// code; the chart is drawn on a canvas. Text from the server goes in with textContent only.

const DATA_URL = "/status/data";
const POLL_MS = 2000;
const TOKEN_KEY = "collabhub.status.token";

const $ = id => document.getElementById(id);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === "dataset") {
      Object.assign(node.dataset, value);
    } else if (name === "className") {
      node.className = value;
    } else {
      node.setAttribute(name, value);
    }
  }
  node.append(...children.filter(child => child !== null && child !== undefined));
  return node;
}

const rate = value => (value === null || value === undefined) ? "–" : value >= 100 ? value.toFixed(0) : value.toFixed(1);

function ago(at) {
  if (!at) {
    return "–";
  }
  const seconds = Math.max(0, (Date.now() - new Date(at).getTime()) / 1000);
  return seconds < 90 ? `${seconds.toFixed(0)} s ago` : `${(seconds / 60).toFixed(0)} min ago`;
}

function setState(state, text) {
  const badge = $("state");
  badge.dataset.state = state;
  badge.textContent = text;
}

function rows(body, items, render, emptyText, columns) {
  body.replaceChildren(...(items.length > 0
    ? items.map(render)
    : [el("tr", {}, el("td", { className: "empty", colspan: String(columns) }, emptyText))]));
}

function renderInstances(data) {
  rows($("instances"), data.instances, instance => el("tr", { dataset: { instance: instance.id } },
    el("td", { className: "id" }, instance.id, instance.self ? el("span", { className: "self" }, "this one") : null),
    el("td", { className: "num" }, instance.connections ?? "–"),
    el("td", { className: "num" }, instance.rooms ?? "–"),
    el("td", { className: "num" }, rate(instance.writesPerSecond)),
    el("td", { className: "num" }, rate(instance.eventsPerSecond)),
    el("td", { className: "num" }, instance.self ? "now" : ago(instance.at))), "No instance reports.", 6);
}

function renderRooms(data) {
  rows($("rooms"), data.busiestRooms, room => el("tr", {},
    el("td", { className: "id" }, room.roomId),
    el("td", { className: "num" }, room.connections)), "No room has members here.", 2);
}

function renderHealth(data) {
  const checks = data.health.map(check => ({ ...check }));
  if (!checks.some(check => check.name === "redis")) {
    checks.push({ name: "redis", status: "None", description: "not configured: in-process backplane, this instance alone" });
  }
  $("health").replaceChildren(...checks.map(check => el("li", { dataset: { check: check.name, status: check.status } },
    el("span", { className: "dot", "aria-hidden": "true" }),
    el("span", { className: "name" }, check.name),
    el("span", {}, check.status === "None" ? "–" : check.status),
    check.description ? el("span", { className: "detail" }, check.description) : null)));
}

function renderWarnings(data) {
  const list = $("warnings");
  if (data.warnings.length === 0) {
    list.replaceChildren(el("li", { className: "empty" }, "No warnings since this instance started."));
    return;
  }
  list.replaceChildren(...data.warnings.map(warning => el("li", {},
    el("time", { datetime: warning.at }, new Date(warning.at).toLocaleTimeString()),
    el("span", { className: "level", dataset: { level: warning.level } }, warning.level),
    el("span", { className: "category" }, `${warning.category} ${warning.eventId}`),
    el("span", {}, warning.message + (warning.exception ? ` (${warning.exception})` : "")))));
}

/** Two lines (writes/s, events/s) over the window, with a grid and a scale rounded up to a readable step. */
function drawChart(data) {
  const canvas = $("chart");
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);

  const style = getComputedStyle(document.documentElement);
  const colour = name => style.getPropertyValue(name).trim();
  const windowSeconds = 5 * 60;
  const left = 44, right = 8, top = 8, bottom = 22;
  const plotWidth = width - left - right, plotHeight = height - top - bottom;
  const now = Date.now();
  const samples = data.rates.map(sample => ({ t: new Date(sample.at).getTime(), w: sample.writesPerSecond, e: sample.eventsPerSecond }))
    .filter(sample => now - sample.t <= windowSeconds * 1000);
  const peak = Math.max(1, ...samples.map(sample => Math.max(sample.w, sample.e)));
  const magnitude = 10 ** Math.floor(Math.log10(peak));
  const max = [1, 2, 2.5, 5, 10].map(step => step * magnitude).find(step => step >= peak);
  const x = t => left + plotWidth * (1 - (now - t) / (windowSeconds * 1000));
  const y = value => top + plotHeight * (1 - value / max);

  ctx.font = "11px ui-sans-serif, system-ui, sans-serif";
  ctx.fillStyle = colour("--muted");
  ctx.strokeStyle = colour("--line");
  ctx.lineWidth = 1;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (let i = 0; i <= 4; i++) {
    const value = (max * i) / 4;
    const lineY = Math.round(y(value)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(left, lineY);
    ctx.lineTo(width - right, lineY);
    ctx.stroke();
    ctx.fillText(value >= 10 ? value.toFixed(0) : value.toFixed(1), left - 6, lineY);
  }
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  for (let minutes = 5; minutes >= 0; minutes--) {
    ctx.textAlign = minutes === 5 ? "left" : minutes === 0 ? "right" : "center";
    ctx.fillText(minutes === 0 ? "now" : `-${minutes} min`, x(now - minutes * 60000), height - bottom + 6);
  }

  for (const [key, name] of [["e", "--events"], ["w", "--writes"]]) {
    if (samples.length === 0) {
      break;
    }
    ctx.strokeStyle = colour(name);
    ctx.lineWidth = 2;
    ctx.lineJoin = "round";
    ctx.beginPath();
    samples.forEach((sample, i) => (i === 0 ? ctx.moveTo : ctx.lineTo).call(ctx, x(sample.t), y(sample[key])));
    ctx.stroke();
  }
}

function render(data) {
  const last = data.rates.at(-1);
  $("now-writes").textContent = rate(last?.writesPerSecond);
  $("now-events").textContent = rate(last?.eventsPerSecond);
  $("sample-seconds").textContent = String(data.sampleSeconds);
  renderInstances(data);
  renderRooms(data);
  renderHealth(data);
  renderWarnings(data);
  drawChart(data);
  document.body.dataset.instances = String(data.instances.length);
}

let latest = null;

async function poll() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  try {
    const response = await fetch(DATA_URL, { headers: token ? { Authorization: `Bearer ${token}` } : {}, cache: "no-store" });
    if (response.status === 401 || response.status === 403) {
      $("token-form").hidden = false;
      setState("forbidden", response.status === 401 ? "Sign-in needed" : "Not an operator");
      return;
    }
    if (!response.ok) {
      setState("error", `Error ${response.status}`);
      return;
    }
    latest = await response.json();
    $("token-form").hidden = true;
    render(latest);
    setState("live", `Live · ${latest.instances.length} instance${latest.instances.length === 1 ? "" : "s"}`);
  } catch {
    setState("error", "Server unreachable");
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

$("token-form").addEventListener("submit", event => {
  event.preventDefault();
  const token = $("token-input").value.trim();
  if (token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    $("token-input").value = "";
    setState("loading", "Loading…");
  }
});

window.addEventListener("resize", () => latest && drawChart(latest));
poll();
