// jaxquba report: draws tables, scatter, heatmaps, radar and the studies' figures from the JSON in #data.
// Hand-written, no libraries, no network: the page works from disk.
"use strict";
(function () {
  const D = JSON.parse(document.getElementById("data").textContent);
  const NINE = D.dimensions.map(d => d.column);
  const DIR = Object.fromEntries(D.dimensions.map(d => [d.column, d.direction]));
  const DIM = Object.fromEntries(D.dimensions.map(d => [d.column, d]));
  const SVGNS = "http://www.w3.org/2000/svg";
  const app = document.getElementById("app");

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k.startsWith("on")) node.addEventListener(k.slice(2), v); else node.setAttribute(k, v);
    }
    for (const c of children.flat()) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }
  function sv(tag, attrs, ...children) {
    const node = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    for (const c of children.flat()) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }
  const isNum = v => typeof v === "number" && isFinite(v);
  function fmt(v) {
    if (!isNum(v)) return v === null || v === undefined ? "" : String(v);
    if (Number.isInteger(v)) return String(v);
    const a = Math.abs(v);
    return a !== 0 && (a < 0.001 || a >= 1e5) ? v.toExponential(2) : v.toFixed(a >= 100 ? 1 : 4);
  }
  const z = (c, v) => (v - DIM[c].mean) / DIM[c].std * DIM[c].direction;  // direction-signed z (larger = better)
  function quantile(sorted, q) {
    const pos = (sorted.length - 1) * q, lo = Math.floor(pos), hi = Math.ceil(pos);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
  }
  // Diverging colour of a correlation in [-1, 1] (blue negative, red positive).
  function rdbu(r) {
    const t = Math.max(-1, Math.min(1, r)), a = Math.abs(t);
    const mix = (x, y) => Math.round(x + (y - x) * a);
    return t >= 0 ? `rgb(255,${mix(255, 60)},${mix(255, 50)})` : `rgb(${mix(255, 40)},${mix(255, 90)},255)`;
  }

  // ---------------------------------------------------------------- sortable, filterable tables
  function table(id, columns, rows, opts) {
    // columns: [{key, label, text}], rows: objects; opts.filter(row) -> bool, opts.onclick(row)
    const state = {key: null, asc: true};
    const wrap = el("div", {class: "scroll"});
    const tbl = el("table", {class: "t", id: id});
    wrap.append(tbl);
    function draw() {
      let shown = rows.filter(r => !opts.filter || opts.filter(r));
      if (state.key !== null) {
        const k = state.key, s = state.asc ? 1 : -1;
        shown = shown.slice().sort((a, b) => {
          const x = a[k], y = b[k];
          if (!isNum(x) && !isNum(y)) return s * String(x ?? "").localeCompare(String(y ?? ""));
          if (!isNum(x)) return 1;
          if (!isNum(y)) return -1;
          return s * (x - y);
        });
      }
      tbl.replaceChildren(
        el("thead", {}, el("tr", {}, columns.map(c => el("th", {
          class: c.text ? "s" : "", "data-key": c.key, title: "sort",
          onclick: () => { state.asc = state.key === c.key ? !state.asc : true; state.key = c.key; draw(); },
        }, c.label + (state.key === c.key ? (state.asc ? " ▲" : " ▼") : ""))))),
        el("tbody", {}, shown.map(r => el("tr", opts.onclick ? {onclick: () => opts.onclick(r)} : {},
          columns.map(c => el("td", {class: c.text ? "s" : ""}, fmt(r[c.key])))))));
    }
    draw();
    return {node: wrap, draw: draw};
  }

  function section(title, ...children) {
    app.append(el("h2", {}, title), ...children.flat());
  }

  function select(id, options, value, onchange) {
    const s = el("select", {id: id, onchange: () => onchange(s.value)},
      options.map(o => el("option", {value: o}, o)));
    s.value = value;
    return s;
  }

  // ---------------------------------------------------------------- evaluated runs
  const evalCols = [{key: "label", label: "run", text: true}, {key: "precision", label: "precision", text: true},
    {key: "max_examples", label: "max_examples"}, {key: "reference", label: "reference", text: true},
    {key: "protocol", label: "protocol", text: true}, {key: "QUBA", label: "QUBA"},
    {key: "published_rank", label: "rank among published"}, {key: "rank_note", label: "note", text: true}]
    .concat(D.value_columns.map(c => ({key: c, label: c})));
  let evalText = "";
  const evalTable = table("evaluated", evalCols, D.evaluated, {
    filter: r => !evalText || r.label.toLowerCase().includes(evalText),
    onclick: r => { radarSelect.value = r.label; drawRadar(); },
  });
  section("Evaluated runs (" + D.evaluated.length + ")",
    el("div", {class: "controls"}, "filter: ",
      el("input", {id: "evaluated-filter", placeholder: "model name", oninput: e => {
        evalText = e.target.value.toLowerCase(); evalTable.draw(); }}),
      el("span", {class: "note"}, "click a header to sort, a row for its radar")),
    evalTable.node);

  // ---------------------------------------------------------------- published models
  const pubFilter = {arch: "all", data: "all", setup: "all", text: ""};
  const pubCols = [{key: "row", label: "row"}, {key: "display_name", label: "model", text: true},
    {key: "arch", label: "architecture", text: true}, {key: "data", label: "training data", text: true},
    {key: "setup", label: "training setup", text: true}]
    .concat(NINE.map(c => ({key: c, label: c}))).concat([{key: "QUBA", label: "QUBA"}]);
  const pubPass = r => ["arch", "data", "setup"].every(k => pubFilter[k] === "all" || r[k] === pubFilter[k])
    && (!pubFilter.text || String(r.display_name).toLowerCase().includes(pubFilter.text));
  const pubTable = table("published", pubCols, D.published, {filter: pubPass});
  const levels = k => ["all"].concat([...new Set(D.published.map(r => r[k]))].sort());
  const pubSelect = k => select("published-" + k, levels(k), "all", v => {
    pubFilter[k] = v; pubTable.draw(); drawScatter(); });
  section("Published models (" + D.published.length + ")",
    el("div", {class: "controls"}, "architecture ", pubSelect("arch"), " training data ", pubSelect("data"),
      " training setup ", pubSelect("setup"), " name ",
      el("input", {id: "published-filter", oninput: e => {
        pubFilter.text = e.target.value.toLowerCase(); pubTable.draw(); drawScatter(); }})),
    pubTable.node);

  // ---------------------------------------------------------------- scatter of any two columns
  const axes = [...new Set(NINE.concat(D.value_columns))];
  const scatterBox = el("div", {});
  let sx = "Acc", sy = D.evaluated.some(r => isNum(r["C-Rob."])) ? "C-Rob." : "Cal. Err.";
  function linear(lo, hi, a, b) {
    if (lo === hi) { lo -= 0.5; hi += 0.5; }
    return v => a + (v - lo) / (hi - lo) * (b - a);
  }
  function ticks(lo, hi, n) {
    return Array.from({length: n + 1}, (_, i) => lo + (hi - lo) * i / n);
  }
  function scatterSvg(id, points, xLabel, yLabel) {
    // points: [{x, y, cls, title}]
    const W = 620, H = 420, L = 60, B = 45, T = 15, R = 20;
    const xs = points.map(p => p.x), ys = points.map(p => p.y);
    const fx = linear(Math.min(...xs), Math.max(...xs), L, W - R), fy = linear(Math.min(...ys), Math.max(...ys), H - B, T);
    const g = sv("svg", {id: id, width: W, height: H, viewBox: `0 0 ${W} ${H}`});
    g.append(sv("line", {x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#444"}),
      sv("line", {x1: L, y1: T, x2: L, y2: H - B, stroke: "#444"}));
    if (points.length) {
      for (const t of ticks(Math.min(...xs), Math.max(...xs), 4))
        g.append(sv("text", {x: fx(t), y: H - B + 14, "text-anchor": "middle"}, fmt(t)));
      for (const t of ticks(Math.min(...ys), Math.max(...ys), 4))
        g.append(sv("text", {x: L - 4, y: fy(t) + 4, "text-anchor": "end"}, fmt(t)));
    }
    g.append(sv("text", {x: (L + W - R) / 2, y: H - 8, "text-anchor": "middle"}, xLabel),
      sv("text", {x: 12, y: (T + H - B) / 2, transform: `rotate(-90 12 ${(T + H - B) / 2})`,
        "text-anchor": "middle"}, yLabel));
    for (const p of points.filter(p => p.cls !== "ev").concat(points.filter(p => p.cls === "ev")))
      g.append(sv("circle", {cx: fx(p.x), cy: fy(p.y), r: p.cls === "ev" ? 5 : 3, class: p.cls,
        "data-label": p.title}, sv("title", {}, p.title)));
    return g;
  }
  function drawScatter() {
    const pts = [];
    if (NINE.includes(sx) && NINE.includes(sy))
      for (const r of D.published.filter(pubPass))
        pts.push({x: r[sx], y: r[sy], cls: "pub", title: `${r.display_name} (published)`});
    const evaluated = D.evaluated.filter(r => isNum(r[sx]) && isNum(r[sy]));
    for (const r of evaluated) pts.push({x: r[sx], y: r[sy], cls: "ev", title: r.label});
    const missing = D.evaluated.length - evaluated.length;
    scatterBox.replaceChildren(scatterSvg("scatter", pts.filter(p => isNum(p.x) && isNum(p.y)), sx, sy),
      el("p", {class: "note"}, `grey: published models (as filtered above); red: evaluated runs` +
        (missing ? `; ${missing} run(s) lack ${sx} or ${sy}` : "")));
  }
  section("Scatter",
    el("div", {class: "controls"}, "x ", select("scatter-x", axes, sx, v => { sx = v; drawScatter(); }),
      " y ", select("scatter-y", axes, sy, v => { sy = v; drawScatter(); })), scatterBox);
  drawScatter();

  // ---------------------------------------------------------------- published vs re-evaluated
  const byRow = Object.fromEntries(D.published.map(r => [r.row, r]));
  const matched = D.evaluated.filter(r => r.published_row !== null && r.published_row !== undefined);
  const diffs = matched.map(r => {
    const p = byRow[r.published_row];
    const rows = NINE.filter(c => isNum(r[c])).map(c => {
      const d = r[c] - p[c];
      return el("tr", {}, el("td", {class: "s"}, c), el("td", {}, fmt(p[c])), el("td", {}, fmt(r[c])),
        el("td", {class: d * DIR[c] >= 0 ? "diff-pos" : "diff-neg"}, (d >= 0 ? "+" : "") + fmt(d)));
    });
    return el("div", {}, el("h3", {}, `${r.label} — published as "${p.display_name}" (row ${p.row})`),
      el("table", {class: "t diff"}, el("tr", {}, ["dimension", "published", "re-evaluated", "difference"]
        .map(h => el("th", {}, h))), rows));
  });
  section("Published vs re-evaluated", matched.length ? el("div", {class: "row"}, diffs) :
    el("p", {class: "note"}, "No evaluated run is a published model (by the registry's table of published models)."));

  // ---------------------------------------------------------------- heatmaps
  function heatmap(id, title, labels, cols, m) {
    const cell = 46, L = 110, T = 110;
    const g = sv("svg", {id: id, width: L + cell * cols.length + 10, height: T + cell * labels.length + 30});
    g.append(sv("text", {x: L, y: 14}, title));
    cols.forEach((c, j) => g.append(sv("text", {x: L + cell * j + cell / 2, y: T - 6,
      transform: `rotate(-45 ${L + cell * j + cell / 2} ${T - 6})`}, c)));
    labels.forEach((r, i) => {
      g.append(sv("text", {x: L - 6, y: T + cell * i + cell / 2 + 4, "text-anchor": "end"}, r));
      cols.forEach((c, j) => {
        const v = m.rho[i][j];
        g.append(sv("rect", {x: L + cell * j, y: T + cell * i, width: cell - 1, height: cell - 1,
          fill: v === null ? "#eee" : rdbu(v)}, sv("title", {}, `${r} / ${c}: ${v === null ? "n/a" : v.toFixed(3)}`)));
        if (v !== null) g.append(sv("text", {x: L + cell * j + cell / 2, y: T + cell * i + cell / 2 + 4,
          "text-anchor": "middle"}, v.toFixed(2) + (m.marks[i][j] || "")));
      });
    });
    return g;
  }
  section("Rank correlation between dimensions (direction-signed Spearman)",
    el("p", {class: "note"}, "Each dimension is signed so that larger is better (Cal. Err. and Params negated): " +
      "a positive rho means that models better on one are better on the other. * p < 0.05, ** p < 0.01, " +
      "*** p < 0.001 (two-sided); empty: fewer than 3 models with both values."),
    el("div", {class: "row"}, Object.entries(D.heatmaps).map(([name, m], k) =>
      heatmap("heatmap-" + k, name, NINE, NINE, m))));

  // ---------------------------------------------------------------- radar per run
  const pubZ = NINE.map(c => D.published.map(r => z(c, r[c])).sort((a, b) => a - b));
  const band = [0.1, 0.5, 0.9].map(q => pubZ.map(s => quantile(s, q)));
  const radarBox = el("div", {});
  const radarSelect = select("radar-run", D.evaluated.map(r => r.label),
    D.evaluated.length ? D.evaluated[0].label : "", () => drawRadar());
  function drawRadar() {
    const r = D.evaluated.find(e => e.label === radarSelect.value);
    if (!r) { radarBox.replaceChildren(); return; }
    const S = 440, C = S / 2, R0 = 150, lo = -4, hi = 3;
    const rad = v => R0 * (Math.max(lo, Math.min(hi, v)) - lo) / (hi - lo);
    const at = (k, v) => { const a = -Math.PI / 2 + 2 * Math.PI * k / NINE.length;
      return [C + rad(v) * Math.cos(a), C + rad(v) * Math.sin(a)]; };
    const poly = vals => vals.map((v, k) => at(k, v).join(",")).join(" ");
    const g = sv("svg", {id: "radar", width: S + 120, height: S, viewBox: `-60 0 ${S + 120} ${S}`});
    for (const ring of [-3, -2, -1, 0, 1, 2])
      g.append(sv("polygon", {points: poly(NINE.map(() => ring)), fill: "none", stroke: ring ? "#ddd" : "#888"}));
    g.append(sv("polygon", {points: poly(band[2]), fill: "#bbb", opacity: 0.35}),
      sv("polygon", {points: poly(band[0]), fill: "#fff", opacity: 0.8}),
      sv("polygon", {points: poly(band[1]), fill: "none", stroke: "#555", "stroke-dasharray": "4 3"}));
    NINE.forEach((c, k) => {
      const [x, y] = at(k, hi + 0.9);
      const has = isNum(r[c]);
      g.append(sv("text", {x: x, y: y, "text-anchor": "middle"},
        c + (DIR[c] < 0 ? " (lower better)" : "") + (has ? "" : " n/a")));
    });
    const present = NINE.map((c, k) => [k, r[c]]).filter(([, v]) => isNum(v));
    const pts = present.map(([k, v]) => at(k, z(NINE[k], v)).join(","));
    if (present.length === NINE.length) g.append(sv("polygon", {points: pts.join(" "), fill: "none",
      stroke: "#d62728", "stroke-width": 2.2}));
    for (const [k, v] of present) {
      const [x, y] = at(k, z(NINE[k], v));
      g.append(sv("circle", {cx: x, cy: y, r: 4, fill: "#d62728"},
        sv("title", {}, `${NINE[k]} = ${fmt(v)} (signed z ${z(NINE[k], v).toFixed(2)})`)));
    }
    radarBox.replaceChildren(g, el("p", {class: "note"},
      "Direction-signed z-scores (outward = better; clipped to [-4, 3]); grey band: published 10-90%, dashed: " +
      "published median." + (present.length < NINE.length ? ` ${NINE.length - present.length} of the nine ` +
        "dimensions not measured (no polygon, no QUBA)." : "")));
  }
  section("Radar per run", el("div", {class: "controls"}, "run ", radarSelect), radarBox);
  drawRadar();

  // ---------------------------------------------------------------- the studies' headline figures
  const figs = el("div", {});
  section("The studies' headline figures", figs);
  // 1. QUBA: dimensions by training setup and by training-data size (median signed z per group).
  const withLabels = D.published.map(r => ({...r, who: "published"})).concat(matched.map(r => ({
    ...r, arch: byRow[r.published_row].arch, data: byRow[r.published_row].data,
    setup: byRow[r.published_row].setup, who: "evaluated"})));
  for (const key of ["setup", "data"]) {
    const groups = [...new Set(withLabels.map(r => r[key]))].sort();
    const m = {rho: groups.map(gname => NINE.map(c => {
      const v = withLabels.filter(r => r[key] === gname && isNum(r[c])).map(r => z(c, r[c])).sort((a, b) => a - b);
      return v.length ? Math.max(-1, Math.min(1, quantile(v, 0.5) / 2)) : null; })), marks: groups.map(() => NINE.map(() => ""))};
    const counts = groups.map(gname => `${gname} (n=${withLabels.filter(r => r[key] === gname).length})`);
    const fig = heatmap("study-quba-" + key, `QUBA dimensions by training ${key === "data" ? "data" : "setup"}: ` +
      "median signed z / 2 (clipped to ±1)", counts, NINE, m);
    figs.append(fig);
  }
  figs.append(el("p", {class: "note"}, "Published models with their labels, plus evaluated runs that are " +
    "published models (their labels); cell colour and number: median direction-signed z-score / 2."));
  // 2. Error study: error-type shares against top-1.
  const shares = D.studies.error_shares;
  const accKey = D.evaluated.some(r => isNum(r["Acc"])) ? "Acc" : "top1_acc/imagenet";
  const errRuns = D.evaluated.filter(r => shares.some(s => isNum(r[s])) && isNum(r[accKey]));
  if (errRuns.length) {
    const palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];
    const pts = [];
    for (const r of errRuns) for (const s of shares) if (isNum(r[s]))
      pts.push({x: r[accKey], y: r[s], cls: "ev", title: `${r.label}: ${s}`});
    const fig = scatterSvg("study-errors", pts, accKey, "share of top-1 errors, %");
    fig.querySelectorAll("circle").forEach(c => {
      const type = shares.findIndex(s => c.dataset.label.endsWith(": " + s));
      c.setAttribute("style", `fill: ${palette[type % palette.length]}`);
    });
    figs.append(el("h3", {}, "Error types against top-1"), fig, el("p", {class: "note"}, shares.map((s, k) =>
      el("span", {style: `color: ${palette[k % palette.length]}; margin-right: 1em`}, "● " + s.replace("errors/share_", "")))));
  } else {
    figs.append(el("p", {class: "note", id: "study-errors"}, "Error types against top-1: no run has the error study."));
  }
  // 3. Bias study: bias probes against generalization benchmarks (Spearman over evaluated runs).
  const bc = D.studies.bias_correlations;
  if (bc) {
    figs.append(heatmap("study-bias", "Bias probes against generalization (Spearman over evaluated runs)",
      D.studies.bias_columns, D.studies.generalization_columns, bc));
  } else {
    figs.append(el("p", {class: "note", id: "study-bias"},
      "Bias against generalization: no run has both a bias probe and a generalization benchmark."));
  }
})();
