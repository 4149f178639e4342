/* "Most read" (articles/readership.py): one beacon per view of a story, with the ticket the page
   names. No cookie, no storage, nothing sent anywhere but this site. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (script && navigator.sendBeacon) {
    navigator.sendBeacon(script.getAttribute("data-beacon"), script.getAttribute("data-ticket"));
  }
})();
