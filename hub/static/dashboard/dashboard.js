// Renkei flood-watch dashboard (issue #16). Reads the hub's own NGSI-LD API with the
// viewer's rights: no token in development mode, a bearer token typed into the page
// otherwise (kept in this script's memory only: never stored, never put in a URL).
// Everything is drawn with DOM and SVG nodes and textContent: entity values are data from
// many owners and never reach innerHTML.
"use strict";

// The contracts' @context: built into the hub (never fetched), so short names such as
// WaterObserved and waterLevel mean the contract terms.
const CONTEXT = "https://renkei.example.jp/contracts/v1/context.jsonld";
const LINK = `<${CONTEXT}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"`;
const API = "/ngsi-ld/v1";
const SVGNS = "http://www.w3.org/2000/svg";
const params = new URLSearchParams(location.search);
const REFRESH_S = Math.max(5, Number(params.get("refresh")) || 60);
const HISTORY_N = Math.max(2, Number(params.get("lastN")) || 168);  // one week of hourly readings
// lowest first (contracts/water.py FloodMonitoring)
const LEVELS = [
  ["standbyLevel", "水防団待機水位 standby", "#e3c200"],
  ["alertLevel", "氾濫注意水位 alert", "#f08c00"],
  ["evacuationDecisionLevel", "避難判断水位 evacuation", "#e03131"],
  ["dangerLevel", "氾濫危険水位 danger", "#862e9c"],
];
const BELOW = ["below thresholds", "#2f9e44"];
const UNKNOWN = ["no thresholds", "#868e96"];

let token = null;  // memory only
// operators read Japan time whatever the browser's zone
const jst = (t) => `${new Date(t).toLocaleString("ja-JP", { timeZone: "Asia/Tokyo" })} JST`;

class ApiError extends Error {
  constructor(status, detail) { super(`${status}: ${detail}`); this.status = status; }
}

async function api(path) {
  const headers = { Accept: "application/json", Link: LINK };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(path, { headers, credentials: "omit", cache: "no-store" });
  if (!res.ok) {
    let detail = res.statusText;
    try { detail = (await res.json()).detail || detail; } catch (_) { /* not JSON */ }
    throw new ApiError(res.status, detail);
  }
  return res.json();
}

async function entitiesOf(type) {
  const out = [];
  for (let offset = 0; offset < 5000; offset += 100) {
    const page = await api(`${API}/entities?type=${encodeURIComponent(type)}&limit=100&offset=${offset}`);
    out.push(...page);
    if (page.length < 100) break;
  }
  return out;
}

const val = (e, name) => {
  const a = e && e[name];
  if (a === undefined || a === null) return undefined;
  const first = Array.isArray(a) ? a[0] : a;
  if (first && typeof first === "object" && "value" in first) return first.value;
  if (first && typeof first === "object" && "object" in first) return first.object;
  return first;
};
const isSynthetic = (e) => String(val(e, "dataProvider") || "").startsWith("synthetic")
  || String(val(e, "source") || "").startsWith("synthetic");
const coords = (e) => {
  const g = val(e, "location");
  return g && g.type === "Point" ? g.coordinates : null;
};

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}
function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}
function syntheticTag() { return el("span", { class: "synthetic-tag" }, "SYNTHETIC"); }

// -- the model the page draws -------------------------------------------------------------

function thresholdsFor(station, floods) {
  const dev = val(station, "refDevice");
  const name = val(station, "name");
  return floods.find((f) => dev && val(f, "refDevice") === dev)
    || floods.find((f) => name && val(f, "name") === name) || null;
}

function levelClass(level, flood) {
  if (!flood || typeof level !== "number") return UNKNOWN;
  let cls = BELOW;
  for (const [key, label, colour] of LEVELS) {
    const t = val(flood, key);
    if (typeof t === "number" && level >= t) cls = [label, colour];
  }
  return cls;
}

function rainGauges(weather) {
  const byDevice = new Map();
  for (const w of weather) {
    const period = val(w, "precipitationPeriod");
    const mm = val(w, "precipitation");
    if (!period || typeof mm !== "number") continue;
    const key = val(w, "refDevice") || val(w, "name") || w.id;
    const g = byDevice.get(key) || { name: val(w, "name") || key, at: null, xy: coords(w), sums: {} };
    g.sums[period] = mm;
    g.at = val(w, "dateObserved") || g.at;
    byDevice.set(key, g);
  }
  // the wettest first: what an operator looks for
  return [...byDevice.values()].sort((a, b) => ((b.sums.P1D || 0) - (a.sums.P1D || 0))
    || ((b.sums.PT1H || 0) - (a.sums.PT1H || 0)) || a.name.localeCompare(b.name, "ja"));
}

// -- the map: an SVG of positions (no tiles, nothing from the internet) ---------------------

function drawMap(stations, floods, gauges) {
  const W = 540, H = 420, PAD = 24;
  const all = [...stations.map(coords), ...gauges.map((g) => g.xy)].filter(Boolean);
  const box = svg("svg", { viewBox: `0 0 ${W} ${H}`, id: "map-svg", role: "img",
    "aria-label": "map of stations" });
  if (!all.length) { box.append(svg("text", { x: 20, y: 30 }, "no stations with a position")); return box; }
  // the main frame holds the bulk of the points; far-away stations go to an inset list
  const med = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const mlon = med(all.map((c) => c[0])), mlat = med(all.map((c) => c[1]));
  const near = (c) => Math.abs(c[0] - mlon) < 3 && Math.abs(c[1] - mlat) < 3;
  const inFrame = all.filter(near);
  let [x0, x1] = [Math.min(...inFrame.map((c) => c[0])), Math.max(...inFrame.map((c) => c[0]))];
  let [y0, y1] = [Math.min(...inFrame.map((c) => c[1])), Math.max(...inFrame.map((c) => c[1]))];
  const k = Math.cos((mlat * Math.PI) / 180);  // equirectangular, true shape at the centre
  const span = Math.max(((x1 - x0) * k) / (W - 2 * PAD), (y1 - y0) / (H - 2 * PAD), 1e-4);
  const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
  const project = (c) => [W / 2 + ((c[0] - cx) * k) / span, H / 2 - (c[1] - cy) / span];

  const gaugeLayer = svg("g", { class: "gauges" });
  const maxRain = Math.max(1, ...gauges.map((g) => g.sums.P1D || 0));
  for (const g of gauges) {
    if (!g.xy || !near(g.xy)) continue;
    const [x, y] = project(g.xy);
    const r = 3 + 9 * Math.sqrt((g.sums.P1D || 0) / maxRain);
    const dot = svg("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: r.toFixed(1), class: "gauge",
      fill: "#4dabf7", "fill-opacity": 0.55, stroke: "#1971c2", "stroke-width": 0.8 });
    dot.append(svg("title", {}, `${g.name}: 24 h ${g.sums.P1D ?? "–"} mm`));
    gaugeLayer.append(dot);
  }
  box.append(gaugeLayer);

  const stationLayer = svg("g", { class: "stations" });
  const far = [];
  for (const s of stations) {
    const c = coords(s);
    if (!c) continue;
    const flood = thresholdsFor(s, floods);
    const [label, colour] = levelClass(val(s, "waterLevel"), flood);
    if (!near(c)) { far.push([s, label, colour]); continue; }
    const [x, y] = project(c);
    const mark = svg("rect", { x: (x - 7).toFixed(1), y: (y - 7).toFixed(1), width: 14, height: 14,
      transform: `rotate(45 ${x.toFixed(1)} ${y.toFixed(1)})`, fill: colour, stroke: "#222",
      class: "station", "data-id": s.id });
    mark.append(svg("title", {}, `${val(s, "name")}: ${val(s, "waterLevel")} m (${label})`));
    stationLayer.append(mark, svg("text", { x: (x + 10).toFixed(1), y: (y + 4).toFixed(1) }, val(s, "name") || s.id));
  }
  box.append(stationLayer);
  if (far.length) {  // an inset: stations far from the frame, named where they are
    const inset = svg("g", { class: "inset" });
    inset.append(svg("rect", { x: W - 190, y: 6, width: 184, height: 18 + 18 * far.length,
      fill: "#fff", "fill-opacity": 0.9, stroke: "#98a4b0" }),
      svg("text", { x: W - 182, y: 20 }, "outside this frame:"));
    far.forEach(([s, label, colour], i) => {
      const y = 36 + 18 * i;
      const c = coords(s);
      inset.append(svg("rect", { x: W - 182, y: y - 10, width: 11, height: 11, fill: colour, stroke: "#222",
        class: "station", "data-id": s.id }),
        svg("text", { x: W - 166, y }, `${val(s, "name") || s.id} (${c[1].toFixed(2)}N ${c[0].toFixed(2)}E)`));
    });
    box.append(inset);
  }
  return box;
}

function drawLegend() {
  const ul = document.getElementById("legend");
  ul.replaceChildren();
  for (const [label, colour] of [UNKNOWN, BELOW, ...LEVELS.map((l) => [l[1], l[2]])]) {
    const li = el("li");
    const dot = el("span");
    dot.style.background = colour;
    li.append(dot, label);
    ul.append(li);
  }
  const li = el("li");
  const dot = el("span");
  dot.style.background = "#4dabf7";
  li.append(dot, "rain gauge (area ∝ 24 h rain)");
  ul.append(li);
}

function drawRain(gauges) {
  const body = document.querySelector("#rain tbody");
  body.replaceChildren();
  const fmt = (v) => (typeof v === "number" ? v.toFixed(1) : "–");
  for (const g of gauges) {
    const tr = el("tr", { class: "gauge-row" });
    tr.append(el("td", {}, g.name), el("td", {}, fmt(g.sums.PT1H)), el("td", {}, fmt(g.sums.PT3H)),
      el("td", {}, fmt(g.sums.P1D ?? g.sums.PT24H)), el("td", {}, g.at ? jst(g.at) : "–"));
    body.append(tr);
  }
}

// -- history charts --------------------------------------------------------------------------

function readings(temporal) {
  // normalized temporal (an array of instances), a single instance, or temporalValues
  const a = temporal && temporal.waterLevel;
  if (!a) return [];
  let pairs = [];
  if (Array.isArray(a)) pairs = a.map((i) => [i.value, i.observedAt]);
  else if (Array.isArray(a.values)) pairs = a.values.map((v) => [v[0], v[1]]);
  else if ("value" in a) pairs = [[a.value, a.observedAt]];
  return pairs.filter(([v, t]) => typeof v === "number" && t)
    .map(([v, t]) => [v, new Date(t).getTime()])
    .sort((p, q) => p[1] - q[1])
    .slice(-HISTORY_N);
}

async function history(station) {
  const q = `attrs=waterLevel&timerel=before&timeAt=${encodeURIComponent(new Date().toISOString())}&lastN=${HISTORY_N}`;
  try {
    return readings(await api(`${API}/temporal/entities/${encodeURIComponent(station.id)}?${q}`));
  } catch (err) {
    if (err.status === 404) return [];
    throw err;
  }
}

// the flood-watch service's Alert of a station (contracts/alert.py): by its
// FloodMonitoring, else by name
function alertFor(station, flood, alerts) {
  const name = val(station, "name");
  return alerts.find((a) => flood && val(a, "refFloodMonitoring") === flood.id)
    || alerts.find((a) => name && val(a, "name") === name) || null;
}

function alertLine(alert) {
  const fmt = (v, unit) => (typeof v === "number" ? `${v >= 0 && unit === "m" ? "+" : ""}${v.toFixed(2)} ${unit}` : "–");
  const p = el("p", { class: "alert", "data-stage": String(val(alert, "floodStage")) });
  p.append(el("strong", {}, `flood watch: ${val(alert, "floodStage")} (${val(alert, "severity")})`),
    ` · rise 1 h ${fmt(val(alert, "rise1h"), "m")}, 3 h ${fmt(val(alert, "rise3h"), "m")}`
    + ` · rain 24 h ${fmt(val(alert, "rainfall24h"), "mm")}`
    + (typeof val(alert, "forecastLevel3h") === "number"
      ? ` · forecast 3 h ${val(alert, "forecastLevel3h").toFixed(2)} m (${val(alert, "forecastModel") || "model"})` : "")
    + ` · issued ${val(alert, "dateIssued") ? jst(val(alert, "dateIssued")) : "–"}`);
  return p;
}

function drawChart(station, flood, points, alert) {
  const box = el("div", { class: "chart", "data-id": station.id });
  box.append(el("h3", {}, `${val(station, "name") || station.id}`));
  if (alert) box.append(alertLine(alert));
  if (points.length < 2) {
    box.append(el("p", { class: "note" }, "no history recorded for this station yet"));
    return box;
  }
  const W = 520, H = 210, L = 48, R = 110, T = 10, B = 26;
  const levels = LEVELS.map(([key, label, colour]) => [val(flood, key), label, colour])
    .filter(([v]) => typeof v === "number");
  const ys = [...points.map((p) => p[0]), ...levels.map((l) => l[0])];
  let [lo, hi] = [Math.min(...ys), Math.max(...ys)];
  const pad = Math.max((hi - lo) * 0.05, 0.01);
  lo -= pad; hi += pad;
  const [t0, t1] = [points[0][1], points[points.length - 1][1]];
  const x = (t) => L + ((t - t0) / Math.max(t1 - t0, 1)) * (W - L - R);
  const y = (v) => T + ((hi - v) / (hi - lo)) * (H - T - B);
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "water level history" });
  chart.append(svg("line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis" }),
    svg("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" }),
    svg("text", { x: L - 4, y: y(hi - pad) + 4, "text-anchor": "end" }, (hi - pad).toFixed(2)),
    svg("text", { x: L - 4, y: y(lo + pad) + 4, "text-anchor": "end" }, (lo + pad).toFixed(2)),
    svg("text", { x: L - 4, y: (H - B + T) / 2, "text-anchor": "end" }, "m"),
    svg("text", { x: L, y: H - 8 }, jst(t0)),
    svg("text", { x: W - R, y: H - 8, "text-anchor": "end" }, jst(t1)));
  for (const [v, label, colour] of levels) {
    chart.append(svg("line", { x1: L, x2: W - R, y1: y(v).toFixed(1), y2: y(v).toFixed(1), stroke: colour,
      class: "threshold" }), svg("text", { x: W - R + 4, y: y(v) + 3, fill: colour }, `${label.split(" ")[1]} ${v}`));
  }
  const line = points.map(([v, t]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  chart.append(svg("polyline", { points: line, class: "series", "data-count": points.length }));
  const [lv, lt] = points[points.length - 1];
  chart.append(svg("circle", { cx: x(lt).toFixed(1), cy: y(lv).toFixed(1), r: 3, fill: "#1f6fb2", class: "latest" }));
  box.append(chart);
  const src = val(station, "source");
  if (src) box.append(el("p", { class: "source" }, `levels: ${src}`));
  if (flood) {
    const note = el("p", { class: "source" }, `thresholds: ${val(flood, "source") || flood.id} `);
    if (isSynthetic(flood)) note.prepend(syntheticTag(), " ");
    box.append(note);
  } else {
    box.append(el("p", { class: "note" }, "no FloodMonitoring thresholds for this station"));
  }
  return box;
}

// -- the loop --------------------------------------------------------------------------------

async function refresh() {
  const status = document.getElementById("status");
  try {
    const [stations, floods, weather, alerts] = await Promise.all([
      entitiesOf("WaterObserved"), entitiesOf("FloodMonitoring"), entitiesOf("WeatherObserved"),
      entitiesOf("Alert").catch(() => [])]);  // no flood-watch service yet: no alerts
    const gauges = rainGauges(weather);
    document.getElementById("map").replaceChildren(drawMap(stations, floods, gauges));
    drawRain(gauges);
    const charts = await Promise.all(stations.map(async (s) => {
      const flood = thresholdsFor(s, floods);
      return drawChart(s, flood, await history(s), alertFor(s, flood, alerts));
    }));
    document.getElementById("charts").replaceChildren(...charts);
    status.className = "";
    status.textContent = `${stations.length} river stations, ${gauges.length} rain gauges · updated ${new Date().toLocaleTimeString("ja-JP")} · every ${REFRESH_S} s`;
    document.body.dataset.loaded = "true";
  } catch (err) {
    status.className = "error";
    status.textContent = err.status === 401 || err.status === 403
      ? `the hub refused (${err.message}): enter a bearer token with read scope`
      : `could not load: ${err.message}`;
  }
}

document.getElementById("token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const input = document.getElementById("token");
  token = input.value.trim() || null;
  input.value = "";
  refresh();
});
drawLegend();
refresh();
setInterval(refresh, REFRESH_S * 1000);
