// The task log viewer: show the log's end, and stay at the end while lines
// arrive (htmx appends them to #log-text), unless the reader scrolled up.
(function () {
  "use strict";
  // The page keeps at most this many characters; older ones are dropped.
  var MAX_CHARS = 4 * 1024 * 1024;
  var log = document.getElementById("log-text");
  if (!log) { return; }
  function atBottom() {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 8;
  }
  var follow = true;
  log.scrollTop = log.scrollHeight;
  log.addEventListener("scroll", function () { follow = atBottom(); });
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.target === log) { follow = atBottom(); }
  });
  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target !== log) { return; }
    var length = log.textContent.length;
    while (length > MAX_CHARS && log.firstChild && log.firstChild !== log.lastChild) {
      length -= log.firstChild.textContent.length;
      log.removeChild(log.firstChild);
    }
    if (follow) { log.scrollTop = log.scrollHeight; }
  });
})();
