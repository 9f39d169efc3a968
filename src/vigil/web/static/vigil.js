// Vigil console: live updates over Server-Sent Events, copy buttons, ticking elapsed times.
// Everything works without it; this only saves reloads.
(function () {
  "use strict";

  function refresh(root, status) {
    var parts = document.querySelectorAll("[data-fragment]");
    parts.forEach(function (el) {
      fetch(el.getAttribute("data-fragment"), { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html === null) { return; }
          // The fragment is our own server-rendered, escaped HTML.
          el.innerHTML = html;
          if (status) { status.textContent = "Updated " + new Date().toLocaleTimeString() + "."; }
          tick();
        });
    });
  }

  function live() {
    if (!window.EventSource) { return; }
    document.querySelectorAll("[data-events]").forEach(function (root) {
      var status = document.querySelector("[data-live-status]");
      var source = new EventSource(root.getAttribute("data-events"));
      source.addEventListener("change", function () { refresh(root, status); });
      source.onerror = function () { if (status) { status.textContent = "Reconnecting…"; } };
      source.onopen = function () { if (status && status.textContent === "Reconnecting…") { status.textContent = "Updates live."; } };
      window.addEventListener("pagehide", function () { source.close(); });
    });
  }

  function copy() {
    document.addEventListener("click", function (event) {
      var button = event.target.closest("[data-copy]");
      if (!button) { return; }
      var target = document.getElementById(button.getAttribute("data-copy"));
      if (!target || !navigator.clipboard) { return; }
      navigator.clipboard.writeText(target.textContent.trim()).then(function () {
        var label = button.textContent;
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = label; }, 1500);
      });
    });
  }

  function format(seconds) {
    var d = Math.floor(seconds / 86400), h = Math.floor(seconds % 86400 / 3600), m = Math.floor(seconds % 3600 / 60);
    if (d) { return d + "d " + h + "h"; }
    if (h) { return h + "h " + (m < 10 ? "0" : "") + m + "m"; }
    return m + "m";
  }

  function tick() {
    document.querySelectorAll("[data-since]").forEach(function (el) {
      var since = Date.parse(el.getAttribute("data-since"));
      if (!isNaN(since)) { el.textContent = format(Math.max(0, (Date.now() - since) / 1000)); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    live();
    copy();
    setInterval(tick, 30000);
  });
})();
