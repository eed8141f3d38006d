// A job's page: draws the progress chart (Chart.js) from its data island.
//
// The data island (#job-chart-json, inside #job-chart-data) is loaded and
// refreshed by htmx; each time it arrives the chart is drawn, or updated in
// place, from it. It is refreshed when the live part's task counts change.
(function () {
  "use strict";
  var chart = null;

  function colour(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function draw() {
    var island = document.getElementById("job-chart-json");
    var canvas = document.getElementById("job-chart");
    if (!island || !canvas || !window.Chart) { return; }
    var data = JSON.parse(island.textContent);
    var empty = document.getElementById("job-chart-empty");
    if (empty) { empty.hidden = data.labels.length > 0; }
    if (chart) {
      chart.data.labels = data.labels;
      chart.data.datasets[0].data = data.done;
      chart.data.datasets[1].data = data.failed;
      chart.options.scales.y.suggestedMax = data.total;
      chart.update("none");
      return;
    }
    var done = colour("--done", "#2e7d32");
    var failed = colour("--failed", "#c62828");
    chart = new window.Chart(canvas, {
      type: "line",
      data: {
        labels: data.labels,
        datasets: [
          { label: "done", data: data.done, borderColor: done, backgroundColor: done,
            pointRadius: 0, borderWidth: 2, stepped: true },
          { label: "failed", data: data.failed, borderColor: failed, backgroundColor: failed,
            pointRadius: 0, borderWidth: 2, stepped: true }
        ]
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { ticks: { maxTicksLimit: 8, autoSkip: true } },
          y: { beginAtZero: true, suggestedMax: data.total, ticks: { precision: 0 },
               title: { display: true, text: "tasks" } }
        }
      }
    });
  }

  // What the live part last showed: when tasks end, the chart and the
  // "why is it not running" panel load again (event farm:job-progress).
  var lastCounts = null;

  function counts() {
    var live = document.getElementById("job-live");
    if (!live) { return null; }
    return ["done", "failed", "running", "queued"].map(function (state) {
      var cell = live.querySelector('b[data-count="' + state + '"]');
      return cell ? cell.textContent : "";
    }).join(",");
  }

  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.target && event.target.id === "job-chart-data") { draw(); return; }
    var now = counts();
    if (lastCounts !== null && now !== null && now !== lastCounts && window.htmx) {
      window.htmx.trigger(document.body, "farm:job-progress");
    }
    lastCounts = now;
  });
  document.addEventListener("DOMContentLoaded", function () { lastCounts = counts(); });
})();
