// The statistics page: one Chart.js line chart per <canvas data-chart="ID">,
// drawn from the JSON data island #ID ({from, to, timezone, series}).
(function () {
  "use strict";
  if (!window.Chart) { return; }
  var COLOURS = {
    online: "--online", running: "--running", offline: "--offline",
    disabled: "--disabled", queued: "--queued", done: "--done",
    failed: "--failed", "new": "--queued", started: "--running",
    restarted: "--paused", deleted: "--disabled"
  };
  var style = getComputedStyle(document.documentElement);
  function colour(key) {
    return (style.getPropertyValue(COLOURS[key] || "--ink") || "#1f2a30").trim();
  }
  function formatter(data) {
    var long = data.to - data.from > 36 * 3600 * 1000;
    var options = long
      ? { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" }
      : { hour: "2-digit", minute: "2-digit" };
    options.timeZone = data.timezone;
    var short = new Intl.DateTimeFormat(undefined, options);
    var full = new Intl.DateTimeFormat(undefined, {
      year: "numeric", month: "short", day: "numeric",
      hour: "2-digit", minute: "2-digit", timeZone: data.timezone
    });
    return { tick: function (ms) { return short.format(new Date(ms)); },
             full: function (ms) { return full.format(new Date(ms)); } };
  }
  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    var island = document.getElementById(canvas.getAttribute("data-chart"));
    if (!island) { return; }
    var data = JSON.parse(island.textContent);
    var format = formatter(data);
    var datasets = data.series.map(function (series) {
      return {
        label: series.label,
        data: series.points.map(function (point) { return { x: point[0], y: point[1] }; }),
        borderColor: colour(series.key),
        backgroundColor: colour(series.key),
        pointRadius: series.points.length > 60 ? 0 : 2,
        borderWidth: 2,
        tension: 0.2,
        spanGaps: true
      };
    });
    new window.Chart(canvas, {
      type: "line",
      data: { datasets: datasets },
      options: {
        animation: false,
        maintainAspectRatio: false,
        interaction: { mode: "nearest", axis: "x", intersect: false },
        scales: {
          x: { type: "linear", min: data.from, max: data.to,
               ticks: { maxTicksLimit: 8, callback: function (value) { return format.tick(value); } } },
          y: { beginAtZero: true, ticks: { precision: 0 } }
        },
        plugins: {
          legend: { position: "bottom" },
          tooltip: { callbacks: { title: function (items) {
            return items.length ? format.full(items[0].parsed.x) : "";
          } } }
        }
      }
    });
  });
})();
