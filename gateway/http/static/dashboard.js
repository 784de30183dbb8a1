// bayesgate dashboard: polls dashboard/data and draws every route with inline SVG.
// No libraries: the Beta densities are computed here (log-gamma by Lanczos).
"use strict";

const COLORS = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"];
const NS = "http://www.w3.org/2000/svg";
const W = 360, H = 170, PAD = { l: 34, r: 8, t: 8, b: 20 };
const params = new URLSearchParams(location.search);
const POLL_MS = Math.max(250, Number(params.get("interval_ms")) || 2000);
const state = { history: [], last: 0, colors: {} };

function lgamma(x) {
  const g = 7, c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028,
    771.32342877765313, -176.61502916214059, 12.507343278686905,
    -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - lgamma(1 - x);
  x -= 1;
  let a = c[0];
  const t = x + g + 0.5;
  for (let i = 1; i < g + 2; i++) a += c[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

function betaPdf(x, a, b) {
  const logB = lgamma(a) + lgamma(b) - lgamma(a + b);
  return Math.exp((a - 1) * Math.log(x) + (b - 1) * Math.log(1 - x) - logB);
}

function el(name, attrs, parent) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

function text(parent, x, y, s, anchor) {
  const t = el("text", { x, y, "text-anchor": anchor || "start" }, parent);
  t.textContent = s;
  return t;
}

function svg(id, pad) {
  const p = pad || PAD;
  const s = el("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", id });
  el("line", { class: "axis", x1: p.l, y1: H - p.b, x2: W - p.r, y2: H - p.b }, s);
  el("line", { class: "axis", x1: p.l, y1: p.t, x2: p.l, y2: H - p.b }, s);
  return s;
}

function colorOf(model) {
  if (!(model in state.colors)) state.colors[model] = COLORS[Object.keys(state.colors).length % COLORS.length];
  return state.colors[model];
}

function fmt(v, digits) {
  return v === null || v === undefined ? "–" : Number(v).toFixed(digits);
}

function usd(v) {
  if (v === null || v === undefined) return "–";
  return v >= 1 ? "$" + v.toFixed(2) : "$" + v.toPrecision(3);
}

// Round tick positions in [lo, hi]: steps of 1, 2, 2.5 or 5 times a power of ten.
function niceTicks(lo, hi, target) {
  const raw = (hi - lo) / Math.max(1, target);
  if (!(raw > 0) || !isFinite(raw)) return { ticks: [lo], digits: 2 };
  const pow = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map(f => f * pow).find(v => v >= raw * 0.999);
  let digits = 0;
  while (digits < 6 && Math.abs(Math.round(step * 10 ** digits) - step * 10 ** digits) > 1e-6) digits++;
  const ticks = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) ticks.push(v);
  return { ticks, digits };
}

// Models whose curves (screen points) are never more than `tol` apart: single-linkage groups,
// in the models' order. Coinciding curves would otherwise hide each other.
function coincidingGroups(names, points, tol) {
  const parent = names.map((_, i) => i);
  const root = i => (parent[i] === i ? i : (parent[i] = root(parent[i])));
  for (let i = 0; i < names.length; i++) for (let j = i + 1; j < names.length; j++) {
    const a = points[names[i]], b = points[names[j]];
    if (a.length === b.length && a.every((p, k) => Math.abs(p - b[k]) <= tol)) parent[root(j)] = root(i);
  }
  const groups = {};
  names.forEach((m, i) => (groups[root(i)] = groups[root(i)] || []).push(m));
  return Object.values(groups);
}

// Interleaved dashes: the k members of a group take turns along the same line, so each colour
// shows; a curve of its own is solid.
function dashes(groups, seg) {
  const out = {};
  for (const g of groups) g.forEach((m, i) => {
    out[m] = g.length < 2 ? null : { array: `${seg} ${seg * (g.length - 1)}`, offset: seg * i, group: g };
  });
  return out;
}

function listNames(ns) {
  return ns.length < 2 ? ns.join("") : ns.slice(0, -1).join(", ") + " and " + ns[ns.length - 1];
}

const DPAD = { l: 44, r: 12, t: 10, b: 32 };

// Posterior densities, x zoomed to where the mass is; returns the chart and its legend.
function densityChart(models) {
  const s = svg("density", DPAD);
  const names = Object.keys(models);
  let lo = 1, hi = 0;
  for (const m of names) {
    lo = Math.min(lo, models[m].interval_95[0]);
    hi = Math.max(hi, models[m].interval_95[1]);
  }
  lo = Math.max(0, lo - 0.08); hi = Math.min(1, hi + 0.08);
  if (hi - lo < 0.1) { lo = Math.max(0, lo - 0.05); hi = Math.min(1, hi + 0.05); }
  const N = 240, curves = {};
  let peak = 0;
  for (const m of names) {
    const { alpha, beta } = models[m];
    const pts = [];
    for (let i = 0; i <= N; i++) {
      const x = Math.min(0.9995, Math.max(0.0005, lo + (hi - lo) * i / N));
      const y = betaPdf(x, alpha, beta);
      pts.push([x, isFinite(y) ? y : 0]);
      if (isFinite(y)) peak = Math.max(peak, y);
    }
    curves[m] = pts;
  }
  const top = peak > 0 ? peak * 1.08 : 1;
  const x0 = DPAD.l, x1 = W - DPAD.r, y0 = H - DPAD.b, y1 = DPAD.t;
  const sx = x => x0 + (x - lo) / (hi - lo) * (x1 - x0);
  const sy = y => y0 - y / top * (y0 - y1);
  // scale: density ticks with grid lines, reward ticks, axis labels
  const yt = niceTicks(0, top, 4);
  for (const v of yt.ticks) {
    const y = sy(v).toFixed(1);
    if (v > 0) el("line", { class: "grid", x1: x0, x2: x1, y1: y, y2: y }, s);
    el("line", { class: "axis", x1: x0 - 3, x2: x0, y1: y, y2: y }, s);
    text(s, x0 - 5, Number(y) + 3, v.toFixed(yt.digits), "end").setAttribute("class", "ytick");
  }
  const xt = niceTicks(lo, hi, 5);
  for (const v of xt.ticks) {
    const x = sx(v).toFixed(1);
    el("line", { class: "axis", x1: x, x2: x, y1: y0, y2: y0 + 3 }, s);
    text(s, x, y0 + 13, v.toFixed(Math.max(1, xt.digits)), "middle").setAttribute("class", "xtick");
  }
  text(s, (x0 + x1) / 2, H - 3, "expected reward", "middle").setAttribute("class", "axis-label");
  const ylabel = text(s, 0, 0, "density", "middle");
  ylabel.setAttribute("class", "axis-label");
  ylabel.setAttribute("transform", `translate(10 ${(y0 + y1) / 2}) rotate(-90)`);
  // curves: in screen units, so "coincide" means "closer than the stroke is wide"
  const screen = {};
  for (const m of names) screen[m] = curves[m].map(([, y]) => sy(y));
  const curveGroups = coincidingGroups(names, screen, 2.5);
  const curveDash = dashes(curveGroups, 6);
  const meanGroups = coincidingGroups(names, Object.fromEntries(names.map(m => [m, [sx(models[m].mean)]])), 2);
  const meanDash = dashes(meanGroups, 3);
  const paths = {};
  for (const m of names) {
    const pts = curves[m];
    paths[m] = pts.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join("L");
    const a = sx(pts[0][0]).toFixed(1), b = sx(pts[pts.length - 1][0]).toFixed(1);
    const fill = el("path", { class: "density", d: `M${a},${sy(0)}L${paths[m]}L${b},${sy(0)}Z`,
      fill: colorOf(m), stroke: "none", "data-model": m }, s);
    const k = curveDash[m] ? curveDash[m].group.length : 1;  // a group shades like one curve
    if (k > 1) fill.style.fillOpacity = (1 - Math.pow(1 - 0.18, 1 / k)).toFixed(3);
  }
  for (const m of names) {
    const attrs = { class: "curve", d: "M" + paths[m], stroke: colorOf(m), "data-model": m };
    if (curveDash[m]) Object.assign(attrs, { "stroke-dasharray": curveDash[m].array,
      "stroke-dashoffset": curveDash[m].offset });
    el("path", attrs, s);
  }
  for (const m of names) {
    const mx = sx(models[m].mean).toFixed(1), md = meanDash[m];
    el("line", { class: "meanline", x1: mx, x2: mx, y1: y1, y2: y0, stroke: colorOf(m),
      "stroke-dasharray": md ? md.array : "3 3", "stroke-dashoffset": md ? md.offset : 0,
      "data-model": m }, s);
  }
  return [s, densityLegend(models, names, curveDash, curveGroups)];
}

// One entry per model (even when its curve is hidden under another) and a note per group of
// coinciding curves.
function densityLegend(models, names, curveDash, curveGroups) {
  const box = document.createElement("div");
  box.className = "legend";
  const list = document.createElement("ul");
  for (const m of names) {
    const d = models[m];
    const li = document.createElement("li");
    li.dataset.model = m;
    const sample = el("svg", { viewBox: "0 0 24 8", width: 24, height: 8, class: "sample" });
    const line = el("line", { x1: 0, x2: 24, y1: 4, y2: 4, stroke: colorOf(m), "stroke-width": 2.5 }, sample);
    if (curveDash[m]) line.setAttribute("stroke-dasharray", "4 3");  // "dashed: shares its curve"
    const name = document.createElement("b");
    name.textContent = m;
    const nums = document.createElement("span");
    nums.className = "params";
    nums.textContent = `α ${fmt(d.alpha, 1)} β ${fmt(d.beta, 1)} · mean ${fmt(d.mean, 3)}`;
    li.append(sample, name, nums);
    if (curveDash[m]) li.classList.add("coincides");
    list.appendChild(li);
  }
  box.appendChild(list);
  for (const g of curveGroups.filter(g => g.length > 1)) {
    const note = document.createElement("p");
    note.className = "coincide";
    note.dataset.models = g.join(" ");
    note.textContent = `curves of ${listNames(g)} coincide (drawn as alternating dashes)`;
    box.appendChild(note);
  }
  return box;
}

// A time series per model from the history: value(point) -> number | null.
function seriesChart(id, route, models, value, { yMax, unit, stacked } = {}) {
  const s = svg(id);
  const pts = state.history.filter(p => p.routes[route]);
  if (pts.length < 2) { text(s, W / 2, H / 2, "collecting…", "middle"); return s; }
  const t0 = pts[0].t, t1 = pts[pts.length - 1].t;
  let top = yMax || 0;
  if (!yMax) for (const p of pts) for (const m of models) {
    const v = p.routes[route][m] ? value(p.routes[route][m]) : null;
    if (v !== null && v !== undefined) top = Math.max(top, v);
  }
  top = top > 0 ? top * (yMax ? 1 : 1.1) : 1;
  const sx = t => PAD.l + (t - t0) / Math.max(1e-9, t1 - t0) * (W - PAD.l - PAD.r);
  const sy = v => H - PAD.b - v / top * (H - PAD.t - PAD.b);
  const base = pts.map(() => 0);
  for (const m of models) {
    if (stacked) {
      const lower = base.slice();
      pts.forEach((p, i) => { const row = p.routes[route][m]; base[i] += row ? (value(row) || 0) : 0; });
      const up = pts.map((p, i) => `${sx(p.t).toFixed(1)},${sy(base[i]).toFixed(1)}`);
      const down = pts.map((p, i) => `${sx(p.t).toFixed(1)},${sy(lower[i]).toFixed(1)}`).reverse();
      el("path", { d: "M" + up.join("L") + "L" + down.join("L") + "Z", fill: colorOf(m),
        "fill-opacity": 0.6, stroke: "none", "data-model": m, class: "area" }, s);
      continue;
    }
    let d = "";
    for (const p of pts) {
      const row = p.routes[route][m];
      const v = row ? value(row) : null;
      if (v !== null && v !== undefined) d += (d ? "L" : "M") + sx(p.t).toFixed(1) + "," + sy(v).toFixed(1);
    }
    if (d) el("path", { d, class: "series", stroke: colorOf(m), "data-model": m }, s);
  }
  text(s, PAD.l - 4, PAD.t + 8, top.toFixed(top >= 10 ? 0 : 2), "end");
  text(s, PAD.l - 4, H - PAD.b, "0", "end");
  text(s, W - PAD.r, H - 6, "now", "end");
  text(s, PAD.l, H - 6, `-${Math.round(t1 - t0)}s`, "start");
  if (unit) text(s, PAD.l + 4, PAD.t + 8, unit);
  return s;
}

function chart(title, ...nodes) {
  const div = document.createElement("div");
  div.className = "chart";
  const h = document.createElement("h3");
  h.textContent = title;
  div.append(h, ...nodes.flat());
  return div;
}

function cell(row, content, cls) {
  const td = document.createElement("td");
  if (content instanceof Node) td.appendChild(content); else td.textContent = content;
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function table(models) {
  const t = document.createElement("table");
  const head = t.insertRow();
  for (const h of ["model", "circuit", "mean", "95% interval", "α", "β", "share", "selections",
    "reward", "latency p50 / p95 ms", "failures", "cost"]) {
    const th = document.createElement("th");
    th.textContent = h;
    head.appendChild(th);
  }
  for (const [m, d] of Object.entries(models)) {
    const r = t.insertRow();
    r.dataset.model = m;
    const name = document.createElement("span");
    const sw = document.createElement("span");
    sw.className = "swatch"; sw.style.background = colorOf(m);
    name.append(sw, m);
    if (d.shadow) { const tag = document.createElement("span"); tag.className = "tag"; tag.textContent = "shadow"; name.append(tag); }
    cell(r, name);
    const badge = document.createElement("span");
    badge.className = "badge " + d.circuit; badge.textContent = d.circuit.replace("_", "-");
    cell(r, badge, "circuit");
    cell(r, fmt(d.mean, 3), "mean");
    cell(r, `${fmt(d.interval_95[0], 3)} – ${fmt(d.interval_95[1], 3)}`);
    cell(r, fmt(d.alpha, 1)); cell(r, fmt(d.beta, 1));
    cell(r, (d.share * 100).toFixed(0) + "%", "share");
    cell(r, String(d.selections));
    cell(r, fmt(d.reward_recent, 3), "reward");
    cell(r, `${fmt(d.latency_ms.p50, 0)} / ${fmt(d.latency_ms.p95, 0)}`, "latency");
    cell(r, String(d.failures));
    cell(r, usd(d.cost_usd));
  }
  return t;
}

// Per request class: how often each model was chosen first, and its class posterior mean.
function classTable(classes, names) {
  const t = document.createElement("table");
  t.className = "classes";
  const head = t.insertRow();
  for (const h of ["class", "requests", ...names.map(m => `${m}: chosen · mean`)]) {
    const th = document.createElement("th");
    th.textContent = h;
    head.appendChild(th);
  }
  for (const [c, d] of Object.entries(classes || {})) {
    const r = t.insertRow();
    r.dataset.class = c;
    cell(r, c); cell(r, String(d.requests), "requests");
    for (const m of names) {
      const x = d.models[m];
      const share = d.requests ? ` (${(x.selections / d.requests * 100).toFixed(0)}%)` : "";
      const td = cell(r, x ? `${x.selections}${share} · ${fmt(x.mean, 3)}` : "–", "class-model");
      td.dataset.model = m;
    }
  }
  return t;
}

function renderRoute(name, route) {
  const sec = document.createElement("section");
  sec.className = "route"; sec.dataset.route = name;
  const h = document.createElement("h2");
  h.textContent = `route ${name}`;
  const c = route.cost || {};
  const p = document.createElement("p");
  p.className = "savings";
  const pct = c.saved_share === null || c.saved_share === undefined ? "" : ` (${(c.saved_share * 100).toFixed(0)}%)`;
  p.append(`spent ${usd(c.spent_usd)} · always ${c.baseline_model || "–"} would have cost ${usd(c.baseline_usd)} · `);
  const b = document.createElement("b");
  b.className = "saved"; b.textContent = `saved ${usd(c.saved_usd)}${pct}`;
  p.append(b);
  const models = route.models, names = Object.keys(models);
  const charts = document.createElement("div");
  charts.className = "charts";
  charts.append(
    chart("posterior densities", densityChart(models)),
    chart("share over time", seriesChart("share", name, names, r => r.share, { yMax: 1, stacked: true })),
    chart("reward (last 100)", seriesChart("reward", name, names, r => r.reward, { yMax: 1 })),
    chart("latency p50 (ms)", seriesChart("latency", name, names, r => r.p50, {})),
  );
  sec.append(h, p, charts, table(models));
  if (route.classes && Object.keys(route.classes).length) {
    const ch = document.createElement("h3");
    ch.textContent = "request classes";
    sec.append(ch, classTable(route.classes, route.candidates));
  }
  return sec;
}

function render(data) {
  const main = document.getElementById("routes");
  main.replaceChildren(...Object.entries(data.stats.routes).map(([n, r]) => renderRoute(n, r)));
  const store = data.stats.store || {};
  document.getElementById("store").textContent = `store: ${store.backend || "?"} (${store.state || "?"})`;
  const status = document.getElementById("status");
  status.className = "muted";
  status.textContent = "updated " + new Date(data.now * 1000).toLocaleTimeString();
  document.body.dataset.updated = String(data.now);
}

async function poll() {
  try {
    const resp = await fetch(`dashboard/data?since=${state.last}`, { cache: "no-store", credentials: "same-origin" });
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    const data = await resp.json();
    state.history.push(...data.history);
    if (data.history.length) state.last = data.history[data.history.length - 1].t;
    const keep = 600;
    if (state.history.length > keep) state.history.splice(0, state.history.length - keep);
    render(data);
  } catch (err) {
    const status = document.getElementById("status");
    status.className = "error";
    status.textContent = "cannot load dashboard/data: " + err.message;
  }
  setTimeout(poll, POLL_MS);
}

poll();
