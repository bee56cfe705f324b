// The leaderboard page's behaviour: sorting, filtering, seed rows, charts, the example picker.
// Data comes from the JSON block #harness-data; text reaches the page only through
// textContent or Chart.js's canvas, never as markup. No request leaves the page.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("harness-data").textContent);
  const rowsByKey = new Map(data.rows.map((r) => [r.key, r]));
  const PALETTE = ["#2457c5", "#e07b39", "#3a9a5b", "#c2403d", "#8a63b8", "#8c6d4f", "#d46aa8", "#6f7782",
                   "#b5a82f", "#2fa5b5", "#1b3d85", "#9c4f1d", "#24683c", "#86231f", "#5b3d80"];
  // One look per variant, the same in every chart: a colour, and past 15 variants a marker shape and dash too.
  const SHAPES = ["circle", "triangle", "rectRot", "rect", "star"];
  const look = new Map(data.rows.map((r, i) => [r.key, {
    color: r.is_baseline ? "#1d2330" : PALETTE[i % PALETTE.length],
    shape: SHAPES[Math.floor(i / PALETTE.length) % SHAPES.length],
    dash: i >= PALETTE.length ? [5, 3] : [],
  }]));

  // ---- the table: sort, filter, seeds ------------------------------------------------
  const board = document.getElementById("board");
  const headers = [...board.querySelectorAll("thead tr.cols th")];
  const bodies = () => [...board.querySelectorAll("tbody.variant")];

  function sortBy(th) {
    const index = headers.indexOf(th);
    const numeric = th.dataset.type === "num";
    const current = th.getAttribute("aria-sort");
    // First click: best first (text A to Z); a second click reverses.
    let ascending = numeric ? th.dataset.higher === "no" : true;
    if (current) ascending = current !== "ascending";
    headers.forEach((h) => h.removeAttribute("aria-sort"));
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    const keyed = bodies().map((body, position) => {
      const cell = body.querySelector("tr.main").children[index];
      const raw = cell ? cell.dataset.sort : undefined;
      return { body, position, missing: raw === undefined || raw === "", raw };
    });
    keyed.sort((a, b) => {
      if (a.missing !== b.missing) return a.missing ? 1 : -1;  // no value: always last
      if (a.missing) return a.position - b.position;
      const order = numeric ? Number(a.raw) - Number(b.raw) : a.raw.localeCompare(b.raw);
      return (ascending ? order : -order) || a.position - b.position;
    });
    keyed.forEach((k) => board.appendChild(k.body));
  }
  headers.forEach((th) => th.querySelector("button.sort").addEventListener("click", () => sortBy(th)));

  const filterText = document.getElementById("filter-text");
  const filterMethod = document.getElementById("filter-method");
  function applyFilter() {
    const words = filterText.value.toLowerCase().split(/\s+/).filter(Boolean);
    const method = filterMethod.value;
    let shown = 0;
    bodies().forEach((body) => {
      const keep = body.dataset.baseline === "yes" ||
        ((!method || body.dataset.method === method) && words.every((w) => body.dataset.search.includes(w)));
      body.hidden = !keep;
      shown += keep ? 1 : 0;
    });
    document.getElementById("shown-count").textContent = `${shown} of ${bodies().length} variants shown`;
  }
  filterText.addEventListener("input", applyFilter);
  filterMethod.addEventListener("change", applyFilter);

  board.querySelectorAll("button.seeds").forEach((button) => button.addEventListener("click", () => {
    const open = button.getAttribute("aria-expanded") !== "true";
    button.setAttribute("aria-expanded", String(open));
    button.closest("tbody").querySelectorAll("tr.seed").forEach((tr) => { tr.hidden = !open; });
  }));

  // ---- the example picker -------------------------------------------------------------
  const exampleEval = document.getElementById("example-eval");
  if (exampleEval) {
    exampleEval.addEventListener("change", () => {
      document.querySelectorAll(".example-set").forEach((set) => { set.hidden = set.dataset.index !== exampleEval.value; });
    });
  }

  // ---- charts -------------------------------------------------------------------------
  if (typeof Chart === "undefined") return;
  Chart.defaults.animation = false;
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.maintainAspectRatio = false;
  const charts = data.charts;

  const SHORT = [["T", 1e12], ["B", 1e9], ["M", 1e6], ["K", 1e3]];
  const METRIC = [["E", 1e18], ["P", 1e15], ["T", 1e12], ["G", 1e9], ["M", 1e6], ["K", 1e3]];  // FLOPs, as the table writes them
  function si(value, scale = SHORT) {
    const abs = Math.abs(value);
    for (const [suffix, factor] of scale) {
      if (abs >= factor) return `${+(value / factor).toPrecision(3)}${suffix}`;
    }
    return `${+value.toPrecision(3)}`;
  }
  function tick(unit) {
    if (unit === "bytes") return (v) => `${si(v)}B`;
    if (unit === "seconds") return (v) => `${+Number(v).toPrecision(3)} s`;
    if (unit === "flops") return (v) => si(v, METRIC);
    return (v) => si(v);
  }
  function fill(select, options) {
    options.forEach((o) => {
      const option = document.createElement("option");
      option.value = o.key;
      option.textContent = o.label;
      select.appendChild(option);
    });
  }
  function perVariant(points) {
    return points.map((p) => {
      const l = look.get(p.row);
      return { type: "scatter", label: rowsByKey.get(p.row).name, data: [p], backgroundColor: l.color,
               borderColor: l.color, pointStyle: l.shape, pointRadius: 5, pointHoverRadius: 7 };
    });
  }
  const pointTooltip = { callbacks: { label: (ctx) => ctx.raw.tip || `${ctx.dataset.label}: ${ctx.formattedValue}` } };
  function axis(title, unit, log) {
    const label = tick(unit);
    // On a log axis only 1, 2 and 5 times a power of ten are labelled, so labels never overlap.
    const callback = log ? (v) => ([1, 2, 5].includes(Math.round(v / 10 ** Math.floor(Math.log10(v)))) ? label(v) : "") : label;
    return { type: log ? "logarithmic" : "linear", title: { display: true, text: title }, ticks: { callback } };
  }

  // Quality against cost, with the Pareto frontier and the baseline.
  const qMetric = document.getElementById("quality-metric");
  const qCost = document.getElementById("quality-cost");
  fill(qMetric, charts.metrics);
  fill(qCost, charts.costs);
  let quality = null;
  function drawQuality() {
    const metric = charts.metrics.find((m) => m.key === qMetric.value);
    const cost = charts.costs.find((c) => c.key === qCost.value);
    if (!metric || !cost) return;
    const points = data.rows.filter((r) => !r.is_baseline && r.cells[metric.key] && r.cells[cost.key] &&
                                          (!cost.log || r.cells[cost.key].value > 0))
      .map((r) => ({ x: r.cells[cost.key].value, y: r.cells[metric.key].value, row: r.key,
                     tip: `${r.name}: ${r.cells[metric.key].text} at ${r.cells[cost.key].text}` }));
    const datasets = perVariant(points);
    const front = (charts.frontiers[`${metric.key}|${cost.key}`] || []).map((key) => rowsByKey.get(key))
      .map((r) => ({ x: r.cells[cost.key].value, y: r.cells[metric.key].value, tip: `frontier: ${r.name}` }));
    if (front.length) {
      datasets.push({ type: "line", label: "Pareto frontier", data: front, stepped: "after", borderColor: "#1d2330",
                      borderWidth: 1.5, pointRadius: 0, fill: false });
    }
    const xs = points.map((p) => p.x);
    Object.entries(charts.baselines[metric.key] || {}).forEach(([model, value]) => {
      if (!xs.length) return;
      datasets.push({ type: "line", label: `baseline${data.rows.some((r) => r.model !== model) ? ` (${model})` : ""}`,
                      data: [{ x: Math.min(...xs), y: value, tip: `baseline: ${value}` }, { x: Math.max(...xs), y: value, tip: `baseline: ${value}` }],
                      borderColor: "#6f7782", borderDash: [6, 4], borderWidth: 1.5, pointRadius: 0, fill: false });
    });
    if (quality) quality.destroy();
    quality = new Chart(document.getElementById("chart-quality"), {
      data: { datasets },
      options: { plugins: { tooltip: pointTooltip }, scales: { x: axis(cost.label, cost.unit, cost.log), y: axis(metric.label, metric.unit, false) } },
    });
  }
  qMetric.addEventListener("change", drawQuality);
  qCost.addEventListener("change", drawQuality);
  drawQuality();

  // Gain against forgetting.
  const gMetric = document.getElementById("gain-metric");
  const gMeasure = document.getElementById("gain-measure");
  fill(gMetric, charts.metrics);
  fill(gMeasure, charts.forgetting);
  let gain = null;
  function drawGain() {
    const metric = charts.metrics.find((m) => m.key === gMetric.value);
    const measure = charts.forgetting.find((f) => f.key === gMeasure.value);
    if (!metric || !measure) {
      document.getElementById("gain-caption").textContent =
        "This suite has no forgetting measure: add a retention eval (retention: true) or the drift probe.";
      return;
    }
    const gains = charts.gains[metric.key] || {};
    const points = Object.keys(measure.values).filter((key) => key in gains).map((key) => {
      const r = rowsByKey.get(key);
      return { x: measure.values[key], y: gains[key], row: key,
               tip: `${r.name}: gain ${+gains[key].toPrecision(3)}, forgetting ${+measure.values[key].toPrecision(3)}` };
    });
    const zero = (ctx) => (ctx.tick && ctx.tick.value === 0 ? "#5d6677" : "#e5e8ee");
    if (gain) gain.destroy();
    gain = new Chart(document.getElementById("chart-gain"), {
      data: { datasets: perVariant(points) },
      options: { plugins: { tooltip: pointTooltip }, scales: {
        x: { ...axis(measure.label, "", false), grid: { color: zero } },
        y: { ...axis(`${metric.label}: change from the baseline`, "", false), grid: { color: zero } } } },
    });
  }
  gMetric.addEventListener("change", drawGain);
  gMeasure.addEventListener("change", drawGain);
  drawGain();

  // Training loss curves.
  const lossLog = document.getElementById("loss-log");
  let loss = null;
  function drawLoss() {
    const datasets = charts.curves.map((c) => {
      const l = look.get(c.row);
      return { type: "line", label: c.label, data: c.points.map(([x, y]) => ({ x, y })), borderColor: l.color,
               backgroundColor: l.color, borderDash: l.dash, borderWidth: 1.5, pointRadius: 0, fill: false };
    });
    if (loss) loss.destroy();
    loss = new Chart(document.getElementById("chart-loss"), {
      data: { datasets },
      options: { interaction: { mode: "nearest", intersect: false },
                 scales: { x: axis("step", "", false), y: axis("training loss", "", lossLog.checked) } },
    });
  }
  lossLog.addEventListener("change", drawLoss);
  drawLoss();

  // Preference training: reward margin and accuracy per step (only where a record has them).
  function drawPreference(id, field, title, accuracy) {
    const canvas = document.getElementById(id);
    if (!canvas || !charts.preference.length) return;
    const datasets = charts.preference.map((c) => {
      const l = look.get(c.row);
      return { type: "line", label: c.label, data: c[field].map(([x, y]) => ({ x, y })), borderColor: l.color,
               backgroundColor: l.color, borderDash: l.dash, borderWidth: 1.5, pointRadius: 0, fill: false };
    });
    const zero = (ctx) => (ctx.tick && ctx.tick.value === 0 ? "#5d6677" : "#e5e8ee");
    const y = accuracy ? { ...axis(title, "", false), min: 0, max: 1 } : { ...axis(title, "", false), grid: { color: zero } };
    new Chart(canvas, {
      data: { datasets },
      options: { interaction: { mode: "nearest", intersect: false }, scales: { x: axis("step", "", false), y } },
    });
  }
  drawPreference("chart-preference-margin", "margin", "reward margin (chosen - rejected)", false);
  drawPreference("chart-preference-accuracy", "accuracy", "accuracy (share of pairs)", true);
})();
