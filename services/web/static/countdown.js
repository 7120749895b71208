/* Countdowns of the live pages: each element with data-ends-at or data-starts-at (an ISO time from the server)
   shows the time left as mm:ss (h:mm:ss past an hour), ticking each second. The server already wrote the same text,
   so without this script the page is right as of when it was drawn; with it, it stays right. */
(function () {
  "use strict";
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function text(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    return (h ? h + ":" + pad(m) : pad(m)) + ":" + pad(s % 60);
  }
  function tick() {
    var now = Date.now();
    var clocks = document.querySelectorAll("[data-ends-at], [data-starts-at]");
    for (var i = 0; i < clocks.length; i++) {
      var at = Date.parse(clocks[i].getAttribute("data-ends-at") || clocks[i].getAttribute("data-starts-at"));
      if (!isNaN(at)) { clocks[i].textContent = text(at - now); }
    }
  }
  setInterval(tick, 1000);
  document.addEventListener("htmx:afterSettle", tick);
})();
