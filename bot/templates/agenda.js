// Shows each time in the visitor's own time zone; without this script the page keeps the server's zone.
(function () {
  "use strict";
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  var formats = {
    date: { weekday: "long", day: "numeric", month: "long", year: "numeric" },
    time: { hour: "numeric", minute: "2-digit", timeZoneName: "short" }
  };
  // Dates in the page's language, in the visitor's own variant of it when the browser has one (en-GB, fr-CA).
  var language = document.documentElement.lang;
  var locale = language;
  var preferred = navigator.languages || [navigator.language];
  for (var i = 0; i < preferred.length; i++) {
    if (preferred[i] && preferred[i].split("-")[0].toLowerCase() === language) {
      locale = preferred[i];
      break;
    }
  }
  var serverZone = document.body.getAttribute("data-zone");
  document.querySelectorAll("time[data-local]").forEach(function (node) {
    var format = formats[node.getAttribute("data-local")];
    var moment = new Date(node.getAttribute("datetime"));
    if (!format || isNaN(moment.getTime())) {
      return;
    }
    node.title = node.textContent + " (" + serverZone + ")";
    node.textContent = new Intl.DateTimeFormat(locale || undefined, format).format(moment);
  });
  document.querySelectorAll("[data-zone-label]").forEach(function (node) {
    node.textContent = node.getAttribute("data-yours") + " (" + zone + ")";
  });
  document.body.setAttribute("data-shown-in", zone);
})();
