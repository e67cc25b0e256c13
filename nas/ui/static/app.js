// The nas dashboard: plain JavaScript, no build step. Data comes from the server's JSON API
// (`nas ui`) or, in a report written by `nas report --html`, from window.NAS_REPORT (no server).
"use strict";

const REPORT = window.NAS_REPORT || null;
const POLL_MS = 2000;
const PAGE = 100; // trial rows per page: a 10,000-record run stays fast
const state = { sort: { key: "created", desc: true }, filter: "", selected: new Set(), trials: { key: "step", desc: false, filter: "", page: 0 } };
let timer = null;
let view = 0; // bumped by every navigation: a fetch that returns after the user moved on is dropped

const $ = (sel, el = document) => el.querySelector(sel);
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined) el.setAttribute(k, v);
  }
  for (const c of children.flat()) el.append(c instanceof Node ? c : document.createTextNode(c === null || c === undefined ? "" : String(c)));
  return el;
}
const fmt = (v, digits = 2) => (v === null || v === undefined || Number.isNaN(v) ? "-" : typeof v === "number" ? v.toFixed(digits) : String(v));
const si = (v) => (v === null || v === undefined ? "-" : v >= 1e9 ? (v / 1e9).toFixed(2) + " G" : v >= 1e6 ? (v / 1e6).toFixed(2) + " M" : v >= 1e3 ? (v / 1e3).toFixed(1) + " K" : String(v));

async function getJSON(url) {
  const response = await fetch(url, { cache: "no-store" });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

// ---- routing -------------------------------------------------------------------------------------
function route() {
  clearTimeout(timer);
  view += 1;
  if (REPORT) return showRun(REPORT.run);
  $("#main").replaceChildren(h("p", { id: "loading" }, "loading…")); // never the last page's figures under a new address
  const hash = decodeURIComponent(location.hash.slice(1));
  if (hash.startsWith("/run/")) return loadRun(hash.slice(5), true);
  if (hash.startsWith("/compare/")) return loadCompare(hash.slice(9).split("|"));
  return loadRuns(true);
}
window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", route);

// ---- the runs list -------------------------------------------------------------------------------
const RUN_COLUMNS = [
  ["run", "run"], ["kind", "kind"], ["space", "space"], ["strategy", "strategy"], ["evaluator", "evaluator"],
  ["status", "status"], ["evaluations", "progress"], ["best", "best ± SE"], ["verdict", "verdict"], ["created", "started"],
];

async function loadRuns(first) {
  const mine = view;
  try {
    const data = await getJSON("api/runs");
    if (mine !== view) return;
    $("#root").textContent = data.root;
    if (first) $("#main").replaceChildren();
    renderRuns(data);
  } catch (err) {
    if (mine !== view) return;
    $("#main").replaceChildren(h("p", { class: "problem" }, "cannot read the runs: " + err.message));
  }
  timer = setTimeout(() => loadRuns(false), POLL_MS);
}

function renderRuns(data) {
  // The controls are built once and kept, so typing in the filter is never interrupted by a redraw.
  if (!$("#runs-filter")) {
    $("#main").replaceChildren(h("div", { class: "controls" },
      h("input", { id: "runs-filter", placeholder: "filter: space, strategy, status, run…", value: state.filter,
        oninput: (e) => { state.filter = e.target.value; renderRuns(state.runs); } }), " ",
      h("button", { id: "compare", onclick: () => { location.hash = "/compare/" + [...state.selected].join("|"); } }, "compare selected"),
      h("span", { id: "runs-count" })), h("table", { id: "runs-table" }));
  }
  state.runs = data;
  $("#compare").textContent = `compare selected (${state.selected.size})`;
  $("#compare").disabled = state.selected.size < 2;
  const words = state.filter.toLowerCase().split(/\s+/).filter(Boolean);
  let rows = data.runs.filter((r) => words.every((w) => [r.run, r.kind, r.space, r.strategy, r.evaluator, r.status].join(" ").toLowerCase().includes(w)));
  const { key, desc } = state.sort;
  rows = rows.slice().sort((a, b) => {
    const x = key === "verdict" ? (a.verdict || {}).label : a[key], y = key === "verdict" ? (b.verdict || {}).label : b[key];
    if (x === y) return 0;
    if (x === null || x === undefined) return 1;
    if (y === null || y === undefined) return -1;
    return (x < y ? -1 : 1) * (desc ? -1 : 1);
  });
  const head = h("tr", {}, h("th", {}, ""), RUN_COLUMNS.map(([k, label]) => h("th", { "data-key": k, class: ["evaluations", "best"].includes(k) ? "num" : "",
    onclick: () => { state.sort = { key: k, desc: state.sort.key === k ? !state.sort.desc : false }; renderRuns(data); } },
    label + (k === key ? (desc ? " ▼" : " ▲") : ""))));
  const body = rows.map((r) => {
    const box = h("input", { type: "checkbox", onchange: (e) => { e.target.checked ? state.selected.add(r.id) : state.selected.delete(r.id); renderRuns(data); } });
    if (state.selected.has(r.id)) box.checked = true;
    const progress = r.evaluations === null ? "-" : r.budget ? `${r.evaluations}/${r.budget}` : String(r.evaluations);
    const best = r.best === null ? "-" : fmt(r.best) + (r.best_se !== null && r.best_se !== undefined ? " ± " + fmt(r.best_se) : "");
    const verdict = r.verdict ? h("span", { class: "badge " + (r.verdict.better ? "good" : "bad"), title: r.verdict.text }, r.verdict.label) : "-";
    return h("tr", { "data-id": r.id }, h("td", {}, box),
      h("td", {}, h("a", { href: "#/run/" + encodeURIComponent(r.id) }, r.run)),
      h("td", {}, r.kind), h("td", {}, r.space), h("td", {}, r.strategy), h("td", {}, r.evaluator),
      h("td", { class: "status-" + r.status, title: r.problem || "" }, r.status + (r.problem ? ": " + r.problem : "")),
      h("td", { class: "num" }, progress), h("td", { class: "num" }, best), h("td", {}, verdict), h("td", {}, r.created || "-"));
  });
  $("#runs-count").textContent = ` ${rows.length} of ${data.runs.length} runs`;
  $("#runs-table").replaceChildren(h("thead", {}, head), h("tbody", {}, body));
}

// ---- one run -------------------------------------------------------------------------------------
let shown = null; // the run on screen and a fingerprint of what was drawn

async function loadRun(id, first) {
  const mine = view;
  try {
    const run = await getJSON("api/run?id=" + encodeURIComponent(id));
    if (mine !== view) return;
    const stamp = [run.records ? run.records.length : 0, run.row.status, JSON.stringify(run.summary || {}).length].join("/");
    if (first || !shown || shown.id !== id || shown.stamp !== stamp) showRun(run);
    shown = { id, stamp };
  } catch (err) {
    if (mine !== view) return;
    $("#main").replaceChildren(h("p", { class: "problem" }, `run ${id}: ${err.message}`), h("a", { href: "#/" }, "all runs"));
    return;
  }
  timer = setTimeout(() => loadRun(id, false), POLL_MS);
}

function metricOf(run) { return (run.objective || {}).metric || "val_acc"; }
function utility(run, v) { return (run.objective || {}).direction === "min" ? -v : v; }

function showRun(run) {
  const row = run.row, summary = run.summary || {}, metric = metricOf(run);
  state.space = (run.config || {}).space;
  state.where = run.commands && run.commands.show ? run.commands.show.replace(/^nas runs show /, "") : null;
  $("#root").textContent = run.id;
  const parts = [h("h2", { id: "run-title" }, `${row.run}  `, h("span", { class: "status-" + row.status, id: "run-status" }, row.status))];
  parts.push(h("p", {}, `${row.kind} · space ${row.space} · strategy ${row.strategy} · evaluator ${row.evaluator} · `,
    h("span", { id: "run-progress" }, `${(run.records || []).length} evaluated` + (row.budget ? ` of ${row.budget}` : "")),
    row.created ? ` · started ${row.created}` : ""));
  const problems = (run.problems || []).map((p) => h("li", { class: "problem" }, p)).concat((run.warnings || []).map((w) => h("li", { class: "warning" }, w)));
  if (problems.length) parts.push(h("div", { class: "panel", id: "problems" }, h("h3", {}, "problems"), h("ul", {}, problems)));
  parts.push(verdictPanel(run, summary));
  parts.push(h("div", { class: "grid" },
    h("div", { class: "panel" }, h("h3", {}, `best ${metric} so far`), h("div", { class: "plot", id: "progress-plot" })),
    h("div", { class: "panel" }, h("h3", {}, "Pareto front"), h("div", { class: "plot", id: "pareto-plot" }))));
  if (run.training && run.training.length) parts.push(h("div", { class: "panel" }, h("h3", {}, "supernet training"), h("div", { class: "plot", id: "training-plot" })));
  if (run.rank_check) parts.push(h("div", { class: "panel" }, h("h3", {}, "rank check: supernet score vs stand-alone training"), h("p", { id: "rank-check-text" }), h("div", { class: "plot", id: "rank-check-plot" })));
  parts.push(h("div", { class: "panel", id: "arch-panel" }, h("h3", {}, "architecture"), h("div", { id: "arch-picture" }, "click a trial to draw it")));
  parts.push(h("div", { class: "panel" }, h("h3", {}, "trials"), h("div", { id: "trials" })));
  parts.push(h("details", { class: "panel", id: "config" }, h("summary", {}, "config and commands"),
    h("ul", { id: "commands" }, Object.entries(run.commands || {}).map(([k, c]) => h("li", {}, `${k}: `, h("code", {}, c)))),
    h("pre", {}, JSON.stringify(run.config || {}, null, 2))));
  if (!REPORT) parts.unshift(h("p", {}, h("a", { href: "#/" }, "← all runs")));
  $("#main").replaceChildren(...parts);
  if (run.records && run.records.length) {
    drawProgress(run);
    drawPareto(run);
    renderTrials(run);
    const best = summary.best && summary.best.arch ? summary.best.arch.choices : ranked(run)[0].choices;
    drawArch(run, best);
  }
  if (run.training && run.training.length) drawTraining(run);
  if (run.rank_check) drawRankCheck(run.rank_check);
}

function drawRankCheck(check) {
  const corr = check.correlations || {}, archs = check.archs || [];
  const say = (key, name) => {
    const c = corr[key];
    if (!c || c.kendall_tau === null) return `${name}: undefined`;
    return `${name}: Kendall tau ${fmt(c.kendall_tau)} (95% CI ${fmt(c.kendall_tau_low)} to ${fmt(c.kendall_tau_high)}), Spearman ${fmt(c.spearman_rho)}`;
  };
  $("#rank-check-text").textContent = [say("recalibrated_vs_standalone", "recalibrated supernet"), say("inherited_vs_standalone", "inherited BN"),
    say("params_vs_standalone", "counting parameters")].join(" · ") + ` · ${archs.length} architectures, ${check.epochs} epochs each`;
  const traces = [["recalibrated", "#1f5fbf"], ["inherited", "#9aa5b1"]].map(([k, color]) => ({
    x: archs.map((a) => a[k]), y: archs.map((a) => a.standalone), mode: "markers", name: `${k} BN`, marker: { size: 8, color },
    text: archs.map((a) => (a.arch ? a.arch.choices.join(",") : "")) }));
  Plotly.newPlot("rank-check-plot", traces, { ...LAYOUT, xaxis: { title: { text: `supernet ${check.metric}` } }, yaxis: { title: { text: `stand-alone ${check.metric}` } } }, PLOT_CONFIG);
}

function verdictPanel(run, summary) {
  const items = [];
  const v = summary.verdict;
  if (v) items.push(h("p", {}, h("span", { class: "badge " + (v.better_than_random ? "good" : "bad"), id: "verdict-label" }, run.row.verdict ? run.row.verdict.label : ""), " ", h("span", { id: "verdict-text" }, v.text || "")));
  else items.push(h("p", { id: "verdict-text" }, "no verdict in this run: a table has no noise to judge, the search has not ended, or the run predates verdicts"));
  if (run.separability) items.push(h("p", { id: "separability" }, "separability: " + run.separability));
  if (summary.estimator) items.push(h("p", { id: "estimator" }, "ranked by " + (summary.estimator.text || summary.estimator.label || "")));
  const best = summary.best;
  if (best) {
    const se = best.metrics[metricOf(run) + "_se"];
    items.push(h("p", { id: "best-line" }, `best ${metricOf(run)} ${fmt(best.metrics[metricOf(run)])}` + (se !== undefined ? ` ± ${fmt(se)}` : "") +
      ` at step ${best.step}` + (summary.best_readable ? ` · ${summary.best_readable}` : "")));
  }
  const inherited = summary["best_inherited_bn_" + metricOf(run)];
  if (best && inherited !== undefined) {  // what per-path BN recalibration changed for the best
    items.push(h("p", { id: "recalibration" }, `the best with the supernet's inherited BN statistics: ${fmt(inherited)}; ` +
      `recalibrated on its own path: ${fmt(best.metrics[metricOf(run)])}`));
  }
  if (summary.best_test) items.push(h("p", { id: "best-test" }, "test split (reported only, never used to choose): " +
    Object.entries(summary.best_test).filter(([, v]) => typeof v === "number").map(([k, v]) => `${k} ${fmt(v)}`).join(", ")));
  return h("div", { class: "panel", id: "verdict" }, h("h3", {}, "verdict"), items);
}

function ranked(run) {
  const m = metricOf(run);
  return run.records.filter((r) => m in r.metrics).slice().sort((a, b) => utility(run, b.metrics[m]) - utility(run, a.metrics[m]) || a.step - b.step);
}

const PLOT_CONFIG = { displaylogo: false, responsive: true };
// Thousands of points as SVG nodes make a page slow to draw: past this many, WebGL draws them.
const scatter = (n) => (n > 2000 ? "scattergl" : "scatter");
const LAYOUT = { margin: { l: 50, r: 10, t: 10, b: 40 }, legend: { orientation: "h" } };

function drawProgress(run) {
  const m = metricOf(run), steps = [], best = [], errors = [];
  let top = null;
  for (const r of run.records.slice().sort((a, b) => a.step - b.step)) {
    if (!(m in r.metrics)) continue;
    if (top === null || utility(run, r.metrics[m]) > utility(run, top.metrics[m])) top = r;
    steps.push(r.step); best.push(top.metrics[m]); errors.push(top.metrics[m + "_se"] || 0);
  }
  const traces = [
    { type: scatter(run.records.length), x: run.records.map((r) => r.step), y: run.records.map((r) => r.metrics[m]), mode: "markers", name: "evaluated", marker: { size: 4, color: "#9aa5b1" } },
    { x: steps, y: best, mode: "lines", name: "best so far", line: { shape: "hv", color: "#1f5fbf" }, error_y: { type: "data", array: errors, visible: errors.some((e) => e > 0), thickness: 1 } },
  ];
  const shapes = [];
  if (run.random) {
    shapes.push({ type: "rect", xref: "paper", x0: 0, x1: 1, y0: run.random.q25, y1: run.random.q75, fillcolor: "#e0b44c", opacity: 0.2, line: { width: 0 } });
    traces.push({ x: [steps[0], steps[steps.length - 1]], y: [run.random.median, run.random.median], mode: "lines", name: `random median (${run.random.count})`, line: { dash: "dot", color: "#b07d00" } });
  }
  Plotly.newPlot("progress-plot", traces, { ...LAYOUT, shapes, xaxis: { title: { text: "step" } }, yaxis: { title: { text: m } } }, PLOT_CONFIG);
}

function goalValue(r, metric) {
  if (metric in r.metrics) return r.metrics[metric];
  if (metric in r) return r[metric];
  return null;
}

function drawPareto(run) {
  const front = (run.summary || {}).front;
  const goals = front && front.goals && front.goals.length === 2 ? front.goals.map((g) => g.split(":")[0]) : [metricOf(run), "params"];
  const [gy, gx] = goals;
  const points = run.records.map((r) => [goalValue(r, gx), goalValue(r, gy), r]).filter((p) => p[0] !== null && p[1] !== null);
  let members;
  if (front && front.front) {
    const hashes = new Set(front.front.map((f) => f.arch_hash));
    members = points.filter((p) => hashes.has(p[2].hash));
  } else { // the non-dominated points: fewer of gx, better gy
    const sorted = points.slice().sort((a, b) => a[0] - b[0] || utility(run, b[1]) - utility(run, a[1]));
    members = []; let best = -Infinity;
    for (const p of sorted) if (utility(run, p[1]) > best) { members.push(p); best = utility(run, p[1]); }
  }
  members.sort((a, b) => a[0] - b[0]);
  const traces = [
    { type: scatter(points.length), x: points.map((p) => p[0]), y: points.map((p) => p[1]), mode: "markers", name: "dominated", marker: { size: 5, color: "#9aa5b1" }, text: points.map((p) => "step " + p[2].step) },
    { x: members.map((p) => p[0]), y: members.map((p) => p[1]), mode: "lines+markers", name: "front", line: { shape: "hv", color: "#c0392b" }, marker: { size: 8 }, text: members.map((p) => "step " + p[2].step),
      error_y: { type: "data", array: members.map((p) => p[2].metrics[gy + "_se"] || 0), visible: members.some((p) => p[2].metrics[gy + "_se"]) } },
  ];
  if (run.random) traces.push({ x: [Math.min(...points.map((p) => p[0])), Math.max(...points.map((p) => p[0]))], y: [run.random.median, run.random.median], mode: "lines", name: "random median", line: { dash: "dot", color: "#b07d00" } });
  Plotly.newPlot("pareto-plot", traces, { ...LAYOUT, xaxis: { title: { text: gx }, type: gx === "params" || gx === "flops" ? "log" : "linear" }, yaxis: { title: { text: gy } } }, PLOT_CONFIG);
  $("#pareto-plot").dataset.front = String(members.length);
}

function drawTraining(run) {
  const rows = run.training, x = rows.map((r, i) => r.epoch !== undefined ? r.epoch : i + 1);
  const traces = ["loss", "acc", "lr"].filter((k) => rows.some((r) => k in r)).map((k, i) => ({ x, y: rows.map((r) => r[k]), name: k, mode: "lines+markers", yaxis: i ? "y" + (i + 1) : "y" }));
  Plotly.newPlot("training-plot", traces, { ...LAYOUT, xaxis: { title: { text: "epoch" } }, yaxis2: { overlaying: "y", side: "right" }, yaxis3: { overlaying: "y", side: "right", type: "log", showgrid: false } }, PLOT_CONFIG);
}

// ---- the trial table -----------------------------------------------------------------------------
function renderTrials(run) {
  const t = state.trials, m = metricOf(run);
  const metricKeys = [...new Set(run.records.flatMap((r) => Object.keys(r.metrics)))].sort((a, b) => (a === m ? -1 : b === m ? 1 : a < b ? -1 : 1));
  const shownKeys = metricKeys.filter((k) => !k.endsWith("_se"));
  const rank = new Map(ranked(run).map((r, i) => [r.hash, i + 1]));
  const words = t.filter.toLowerCase().split(/\s+/).filter(Boolean);
  let rows = run.records.filter((r) => words.every((w) => (String(r.step) + " " + (r.choices || []).join(",") + " " + r.hash).includes(w)));
  const value = (r, k) => k === "rank" ? rank.get(r.hash) : k === "step" ? r.step : k in r.metrics ? r.metrics[k] : r[k];
  rows = rows.slice().sort((a, b) => { const x = value(a, t.key), y = value(b, t.key); return (x === y ? 0 : x === undefined ? 1 : y === undefined ? -1 : x < y ? -1 : 1) * (t.desc ? -1 : 1); });
  const pages = Math.max(1, Math.ceil(rows.length / PAGE));
  t.page = Math.min(t.page, pages - 1);
  const cols = ["rank", "step", ...shownKeys, "flops", "params", "wall_s"];
  const head = h("tr", {}, cols.map((k) => h("th", { class: "num", "data-key": k, onclick: () => { t.desc = t.key === k ? !t.desc : false; t.key = k; renderTrials(run); } }, k + (k === t.key ? (t.desc ? " ▼" : " ▲") : ""))), h("th", {}, "architecture"));
  const body = rows.slice(t.page * PAGE, (t.page + 1) * PAGE).map((r) => h("tr", { "data-step": r.step, onclick: () => drawArch(run, r.choices) },
    cols.map((k) => {
      const v = value(r, k), se = r.metrics[k + "_se"];
      return h("td", { class: "num" }, k === "flops" || k === "params" ? si(v) : k === "rank" || k === "step" ? (v === undefined ? "-" : v) : fmt(v) + (se !== undefined ? " ± " + fmt(se) : ""));
    }), h("td", {}, (r.choices || []).join(","))));
  if (!$("#trials-filter")) {
    $("#trials").replaceChildren(h("div", { class: "controls" },
      h("input", { id: "trials-filter", placeholder: "filter: step, choices, hash", value: t.filter, oninput: (e) => { t.filter = e.target.value; t.page = 0; renderTrials(state.run); } }),
      h("button", { id: "trials-prev", onclick: () => { t.page = Math.max(0, t.page - 1); renderTrials(state.run); } }, "‹"),
      h("span", { id: "trials-page" }),
      h("button", { id: "trials-next", onclick: () => { t.page += 1; renderTrials(state.run); } }, "›")), h("table", { id: "trials-table" }));
  }
  state.run = run;
  $("#trials-page").textContent = ` page ${t.page + 1} of ${pages} (${rows.length} trials${run.truncated ? `, ${run.truncated} more not sent` : ""}) `;
  $("#trials-table").replaceChildren(h("thead", {}, head), h("tbody", {}, body));
}

// ---- architecture pictures -----------------------------------------------------------------------
let archRequest = 0; // the latest picture asked for: an earlier answer arriving late is dropped

async function drawArch(run, choices) {
  state.drawn = run.records ? run.records.find((r) => r.choices && r.choices.join(",") === choices.join(",")) : null;
  state.rank = state.drawn ? ranked(run).findIndex((r) => r.hash === state.drawn.hash) + 1 : null;
  state.total = run.records ? run.records.length : 0;
  if (!choices) return;
  const mine = ++archRequest, page = view;
  let picture;
  try {
    picture = REPORT ? REPORT.archs[choices.join(",")] : await getJSON(`api/arch?id=${encodeURIComponent(run.id)}&choices=${choices.join(",")}`);
    if (!picture) throw new Error("this report holds pictures of the best architectures only");
  } catch (err) {
    if (mine === archRequest && page === view) $("#arch-picture").replaceChildren(h("p", {}, `choices ${choices.join(",")} (${err.message})`));
    return;
  }
  if (mine !== archRequest || page !== view) return;
  drawPicture(picture);
}

function drawPicture(view) {
  const cells = cellEdges(view.decisions);
  const picture = cells ? h("div", { id: "cell-graphs" }, Object.entries(cells).map(([name, edges]) => h("div", { class: "cell" }, name === "cell" ? "" : h("h4", {}, `${name} cell`), cellGraph(edges, name))))
    : blockStrip(view.decisions);
  const arch = JSON.stringify({ space: state.space, choices: view.choices });
  const r = state.drawn;
  const metrics = r ? Object.entries(r.metrics).filter(([k]) => !k.endsWith("_se")).map(([k, v]) =>
    `${k} ${fmt(v)}` + (r.metrics[k + "_se"] !== undefined ? ` ± ${fmt(r.metrics[k + "_se"])}` : "")).join(", ") : "";
  $("#arch-picture").replaceChildren(h("p", { id: "arch-readable" }, view.readable),
    r ? h("p", { id: "arch-metrics" }, `rank ${state.rank} of ${state.total} · step ${r.step} · ${metrics} · ${si(r.flops)}FLOPs · ${si(r.params)} params`) : "",
    picture,
    h("table", { id: "arch-decisions" }, view.decisions.map(([label, op]) => h("tr", {}, h("td", {}, label), h("td", {}, op)))),
    state.where ? h("ul", { id: "arch-commands" },
      h("li", {}, "export: ", h("code", {}, `nas export --run ${state.where} --arch '${arch}' --out arch.pt`)),
      h("li", {}, "retrain: ", h("code", {}, `nas retrain --arch '${arch}' --epochs 30 --out runs/retrain`))) : "");
}

const SVG = "http://www.w3.org/2000/svg";
function s(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

// Cells whose decisions name graph edges, as {cell: [{from, to, op}]}; null for other spaces.
// NB201: one decision per edge, `edge_3<-1`; DARTS-style cells: per node, its two inputs
// (`normal_node2_inputs` = "0+3") and each input's operation (`normal_node2_op_a`, `_op_b`).
function cellEdges(decisions) {
  if (decisions.every(([label]) => /^edge_\d+<-\d+$/.test(label))) {
    return { cell: decisions.map(([label, op]) => { const m = label.match(/^edge_(\d+)<-(\d+)$/); return { from: +m[2], to: +m[1], op }; }) };
  }
  const byName = new Map(decisions.map(([label, op]) => [label, op]));
  const nodes = decisions.map(([label]) => label.match(/^(.+)_node(\d+)_inputs$/)).filter(Boolean);
  if (!nodes.length || nodes.length * 3 !== decisions.length) return null;
  const cells = {};
  for (const m of nodes) {
    const [cell, node] = [m[1], +m[2]], inputs = String(byName.get(m[0])).split("+").map(Number);
    const ops = [byName.get(`${cell}_node${node}_op_a`), byName.get(`${cell}_node${node}_op_b`)];
    if (inputs.length !== 2 || ops.includes(undefined)) return null;
    (cells[cell] = cells[cell] || []).push(...inputs.map((from, i) => ({ from, to: node + 2, op: ops[i] })));
  }
  return cells;
}

function cellGraph(edges, name) { // nodes in a row, each edge an arc labelled with its operation
  const nodes = Math.max(...edges.map((e) => Math.max(e.from, e.to))) + 1;
  const lift = (e, k) => 30 + 40 * (Math.abs(e.to - e.from) - 1) + (k % 2) * 12;
  const step = nodes > 4 ? 120 : 150, width = 60 + step * (nodes - 1) + 60;
  const y = Math.max(...edges.map(lift)) + 30, height = y + 30, x = (i) => 60 + i * step;
  const svg = s("svg", { width, height, class: "cell-graph", id: name === "cell" ? "cell-graph" : `cell-graph-${name}` });
  edges.forEach((edge, k) => {
    const { from, to, op } = edge, up = lift(edge, k), mid = (x(from) + x(to)) / 2, none = op === "none";
    svg.append(s("path", { d: `M ${x(from)} ${y} Q ${mid} ${y - 2 * up} ${x(to)} ${y}`, fill: "none", stroke: none ? "#ccc" : "#5a7bb5",
      "stroke-dasharray": none ? "4 3" : "", class: "edge", "data-op": op }));
    svg.append(s("text", { x: mid, y: y - up - 4, "text-anchor": "middle", class: "edge-label" }, op));
  });
  for (let i = 0; i < nodes; i++) {
    svg.append(s("circle", { cx: x(i), cy: y, r: 16, fill: "#fff", stroke: "#1d2733", class: "node" }));
    svg.append(s("text", { x: x(i), y: y + 4, "text-anchor": "middle" }, i));
  }
  return svg;
}

function blockStrip(decisions) { // a chain of blocks: one box per block, its choices inside (MBConv: kernel, expansion, SE)
  const groups = [];
  for (const [label, op] of decisions) {
    const m = label.match(/^(.*\d)[._][a-z]+$/), key = m ? m[1] : label, last = groups[groups.length - 1];
    if (m && last && last.key === key) last.ops.push(op);
    else groups.push({ key, ops: [op] });
  }
  const w = 120, gap = 10, height = 70, cut = (t) => (String(t).length > 18 ? String(t).slice(0, 17) + "…" : String(t));
  const svg = s("svg", { width: groups.length * (w + gap) + 10, height, id: "block-strip" });
  groups.forEach(({ key, ops }, i) => {
    const g = s("g", { class: "block", transform: `translate(${5 + i * (w + gap)}, 8)` });
    g.append(s("rect", { width: w, height: 50, rx: 4 }));
    g.append(s("text", { x: w / 2, y: 20, "text-anchor": "middle", class: "edge-label" }, cut(key)));
    g.append(s("text", { x: w / 2, y: 38, "text-anchor": "middle", "font-weight": "600" }, cut(ops.join(" "))));
    svg.append(g);
  });
  return svg;
}

// ---- compare -------------------------------------------------------------------------------------
async function loadCompare(ids) {
  const mine = view, runs = [];
  for (const id of ids) {
    try { runs.push(await getJSON("api/run?id=" + encodeURIComponent(id))); } catch (err) { /* listed below as missing */ }
  }
  if (mine !== view) return;
  const missing = ids.filter((id) => !runs.some((r) => r.id === id));
  $("#main").replaceChildren(h("p", {}, h("a", { href: "#/" }, "← all runs")), h("h2", {}, `comparing ${runs.length} runs`),
    missing.length ? h("p", { class: "problem" }, "not found: " + missing.join(", ")) : "",
    h("div", { class: "grid" }, h("div", { class: "panel" }, h("h3", {}, "best so far"), h("div", { class: "plot", id: "compare-plot" })),
      h("div", { class: "panel" }, h("h3", {}, "fronts: objective vs parameters"), h("div", { class: "plot", id: "compare-fronts" }))));
  const traces = runs.filter((r) => r.records && r.records.length).map((run) => {
    const m = metricOf(run); let top = null; const xs = [], ys = [];
    for (const r of run.records.slice().sort((a, b) => a.step - b.step)) {
      if (!(m in r.metrics)) continue;
      if (top === null || utility(run, r.metrics[m]) > utility(run, top)) top = r.metrics[m];
      xs.push(r.step); ys.push(top);
    }
    return { x: xs, y: ys, mode: "lines", name: `${run.id} (${m})`, line: { shape: "hv" } };
  });
  Plotly.newPlot("compare-plot", traces, { ...LAYOUT, xaxis: { title: { text: "step" } } }, PLOT_CONFIG);
  const fronts = runs.filter((r) => r.records && r.records.length).map((run) => {
    const m = metricOf(run), points = run.records.filter((r) => m in r.metrics && r.params).sort((a, b) => a.params - b.params);
    const front = []; let best = -Infinity;
    for (const r of points) if (utility(run, r.metrics[m]) > best) { front.push(r); best = utility(run, r.metrics[m]); }
    return { x: front.map((r) => r.params), y: front.map((r) => r.metrics[m]), mode: "lines+markers", name: `${run.id} (${m})`, line: { shape: "hv" } };
  });
  Plotly.newPlot("compare-fronts", fronts, { ...LAYOUT, xaxis: { title: { text: "params" }, type: "log" } }, PLOT_CONFIG);
}
