// Behaviour shared by the dashboard's pages (htmx does the partial updates).
//
// - Live regions poll with `hx-trigger="every 5s [document.visibilityState ===
//   'visible'], farm:visible from:body"`: nothing is fetched while the tab is
//   hidden, and they refresh at once when it shows again.
// - `<input type="checkbox" data-select-all="NAME">` checks or clears every
//   enabled checkbox called NAME in the same form (disabled ones keep their state).
// - `<form data-confirm="Question?">` asks before submitting.
(function () {
  "use strict";
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && window.htmx) {
      window.htmx.trigger(document.body, "farm:visible");
    }
  });
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("input[data-select-all]")) { return; }
    var form = box.form || document;
    var name = box.getAttribute("data-select-all");
    form.querySelectorAll('input[type="checkbox"][name="' + name + '"]:not(:disabled)').forEach(function (item) {
      item.checked = box.checked;
    });
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var submitter = event.submitter;
    var question = (submitter && submitter.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  }, true);
})();
