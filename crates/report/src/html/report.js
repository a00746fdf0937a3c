// The interactive parts of the zoo report: the sortable model table and each model's training
// curves and Hessian spectral densities, drawn from the JSON document embedded in the page. No
// libraries, no network.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];

  function fail(message) {
    document.body.setAttribute("data-status", "error");
    var box = document.getElementById("page-error");
    if (box) { box.textContent = "report script error: " + message; }
  }
  window.addEventListener("error", function (e) { fail(e.message); });

  // Whole numbers as they are; others with three significant digits, exponent form outside
  // [1e-3, 1e4).
  function fmt(v) {
    if (v === null || v === undefined) { return ""; }
    if (typeof v !== "number") { return String(v); }
    if (v === 0) { return "0"; }
    // Whole numbers (widths, batch sizes, seeds, epochs) exactly as they are.
    if (Number.isInteger(v) && Math.abs(v) < 1e15) { return String(v); }
    var a = Math.abs(v);
    if (a >= 1e-3 && a < 1e4) { return String(Number(v.toPrecision(3))); }
    return v.toExponential(2);
  }

  function el(name, attrs, parent) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) { parent.appendChild(node); }
    return node;
  }

  // One small chart of one series over epochs (or another x, named by xlabel); log y when every
  // value is positive and they span a decade or more (losses and densities do), linear otherwise.
  // A dot marks each value unless there are too many to see (a density's 200 points).
  function chart(title, epochs, values, color, xlabel, marks) {
    xlabel = xlabel || "epoch";
    var W = 360, H = 230, L = 58, R = 12, T = 24, B = 36;
    var svg = el("svg", { "class": "chart", width: W, height: H, viewBox: "0 0 " + W + " " + H });
    var pts = [];
    for (var i = 0; i < epochs.length; i++) {
      if (values[i] !== null && isFinite(values[i])) { pts.push([epochs[i], values[i]]); }
    }
    var t = el("text", { x: W / 2, y: 16, "text-anchor": "middle", "font-size": 13 }, svg);
    t.textContent = title;
    if (pts.length === 0) {
      el("text", { x: W / 2, y: H / 2, "text-anchor": "middle", "font-size": 12, fill: "#888" }, svg).textContent = "no values";
      return svg;
    }
    var ys = pts.map(function (p) { return p[1]; });
    var lo = Math.min.apply(null, ys), hi = Math.max.apply(null, ys);
    var log = lo > 0 && hi / lo >= 10;
    var f = log ? function (v) { return Math.log10(v); } : function (v) { return v; };
    var y0 = f(lo), y1 = f(hi);
    if (y1 === y0) { y0 -= 0.5; y1 += 0.5; }
    var x0 = epochs[0], x1 = epochs[epochs.length - 1];
    if (x1 === x0) { x1 = x0 + 1; }
    var sx = function (x) { return L + (x - x0) / (x1 - x0) * (W - L - R); };
    var sy = function (y) { return T + (1 - (f(y) - y0) / (y1 - y0)) * (H - T - B); };
    el("rect", { x: L, y: T, width: W - L - R, height: H - T - B, fill: "none", stroke: "#999" }, svg);
    // y ticks: decades on a log axis, five even steps otherwise.
    var ticks = [];
    if (log) {
      for (var d = Math.ceil(y0); d <= Math.floor(y1); d++) { ticks.push(Math.pow(10, d)); }
      if (ticks.length < 2) { ticks = [lo, hi]; }
    } else {
      for (var k = 0; k <= 4; k++) { ticks.push(lo + (hi - lo) * k / 4); }
    }
    ticks.forEach(function (v) {
      var y = sy(v);
      el("line", { x1: L - 4, x2: L, y1: y, y2: y, stroke: "#999" }, svg);
      el("text", { x: L - 6, y: y + 4, "text-anchor": "end", "font-size": 11 }, svg).textContent = fmt(v);
    });
    [x0, x1].forEach(function (x) {
      el("text", { x: sx(x), y: H - B + 14, "text-anchor": "middle", "font-size": 11 }, svg).textContent = fmt(x);
    });
    el("text", { x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle", "font-size": 11, fill: "#555" }, svg)
      .textContent = xlabel + (log ? " (log y)" : "");
    var d = pts.map(function (p, j) { return (j ? "L" : "M") + sx(p[0]).toFixed(1) + " " + sy(p[1]).toFixed(1); }).join(" ");
    // Marked x positions (an LLC curve's jumps) as red vertical lines under the curve.
    (marks || []).forEach(function (m) {
      if (m >= x0 && m <= x1) {
        el("line", { "class": "mark", x1: sx(m), x2: sx(m), y1: T, y2: H - B, stroke: "#d62728", "stroke-dasharray": "4 3" }, svg);
      }
    });
    el("path", { d: d, fill: "none", stroke: color, "stroke-width": 1.8 }, svg);
    if (pts.length <= 100) {
      pts.forEach(function (p) { el("circle", { cx: sx(p[0]), cy: sy(p[1]), r: 2.2, fill: color }, svg); });
    }
    return svg;
  }

  function showCurves(table, index) {
    var row = table.rows[index];
    var box = document.getElementById("curves");
    while (box.firstChild) { box.removeChild(box.firstChild); }
    var density = row.density || [];
    document.getElementById("curve-title").textContent = "Training curves of model " + row.id +
      (density.length > 0 ? " and its Hessian spectral density (SLQ, smoothed)" : "");
    row.curves.series.forEach(function (s, i) {
      var marks = s[0] === "llc" ? row.llc_jumps : [];
      var title = s[0] === "llc" && marks.length > 0 ? "llc (red: jumps)" : s[0];
      box.appendChild(chart(title, row.curves.epochs, s[1], COLORS[i % COLORS.length], "epoch", marks));
    });
    density.forEach(function (d) {
      box.appendChild(chart("Hessian density, " + d.set + ", epoch " + d.epoch, d.x, d.y, "#444",
        "eigenvalue; negative mass " + fmt(d.negative_mass)));
    });
    var trs = document.querySelectorAll("tr.model");
    for (var i = 0; i < trs.length; i++) {
      trs[i].classList.toggle("selected", Number(trs[i].getAttribute("data-index")) === index);
    }
  }

  function buildTable(table) {
    var thead = document.querySelector("#model-table thead");
    var tbody = document.querySelector("#model-table tbody");
    var head = document.createElement("tr");
    var order = table.rows.map(function (_, i) { return i; });
    var sortColumn = -1, ascending = true;

    function fill() {
      while (tbody.firstChild) { tbody.removeChild(tbody.firstChild); }
      order.forEach(function (i) {
        var tr = document.createElement("tr");
        tr.className = "model";
        tr.setAttribute("data-index", i);
        table.rows[i].cells.forEach(function (c, j) {
          var td = document.createElement("td");
          if (!table.columns[j].numeric) { td.className = "text"; }
          td.textContent = fmt(c);
          tr.appendChild(td);
        });
        tr.addEventListener("click", function () { showCurves(table, i); });
        tbody.appendChild(tr);
      });
    }

    function key(i, j) { return table.rows[i].cells[j]; }

    // Empty cells sort last either way; ties keep the previous order (Array.sort is stable).
    function sortBy(j) {
      ascending = sortColumn === j ? !ascending : true;
      sortColumn = j;
      var numeric = table.columns[j].numeric;
      order.sort(function (a, b) {
        var u = key(a, j), v = key(b, j);
        var ue = u === null || u === undefined || u === "", ve = v === null || v === undefined || v === "";
        if (ue || ve) { return ue === ve ? 0 : (ue ? 1 : -1); }
        var c = numeric && typeof u === "number" && typeof v === "number" ? u - v : String(u).localeCompare(String(v));
        return ascending ? c : -c;
      });
      var ths = head.children;
      for (var k = 0; k < ths.length; k++) {
        ths[k].setAttribute("aria-sort", k === j ? (ascending ? "ascending" : "descending") : "none");
      }
      fill();
    }

    table.columns.forEach(function (col, j) {
      var th = document.createElement("th");
      th.textContent = col.label;
      if (!col.numeric) { th.className = "text"; }
      th.setAttribute("aria-sort", "none");
      th.addEventListener("click", function () { sortBy(j); });
      head.appendChild(th);
    });
    thead.appendChild(head);
    fill();
  }

  try {
    var data = JSON.parse(document.getElementById("zoo-data").textContent);
    buildTable(data.table);
    if (data.table.rows.length > 0) { showCurves(data.table, 0); }
    document.body.setAttribute("data-models", String(data.table.rows.length));
    if (document.body.getAttribute("data-status") !== "error") {
      document.body.setAttribute("data-status", "rendered");
    }
  } catch (e) {
    fail(e && e.message ? e.message : String(e));
  }
})();
