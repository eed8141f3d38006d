// The jobs list. Its rows (tbody#job-rows) are replaced by htmx every few
// seconds; the boxes the user had checked are checked again in the new rows,
// found by their ids ("select-job-<id>"). The rows are new elements rather
// than the old boxes moved in (hx-preserve): moving the focused box made the
// browser scroll back to it.
(function () {
  "use strict";
  var checked = [];
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (!event.detail.target || event.detail.target.id !== "job-rows") { return; }
    checked = Array.prototype.map.call(
      document.querySelectorAll('#job-rows input[name="job"]:checked'),
      function (box) { return box.id; }
    );
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    if (!event.target || event.target.id !== "job-rows") { return; }
    checked.forEach(function (id) {
      var box = document.getElementById(id);
      if (box && !box.disabled) { box.checked = true; }
    });
  });
})();
