// Refreshes the console page every N seconds (data-refresh on <main>) while the tab is
// visible and no form field has focus; the page works the same without it.
(function () {
  "use strict";
  var main = document.getElementById("main");
  var seconds = main ? parseInt(main.getAttribute("data-refresh"), 10) : 0;
  if (!seconds || seconds < 5) { return; }
  window.setInterval(function () {
    var active = document.activeElement;
    var typing = active && /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(active.tagName);
    if (document.visibilityState === "visible" && !typing) { window.location.reload(); }
  }, seconds * 1000);
}());
