// Live coverage: while the page is open, ask for the newest updates and offer them ("3 new updates"),
// never moving what the reader is looking at. Without this script a reload shows them.
// The fragment is a cached page, purged when an update is posted: most polls are a 304 (articles/live.py).
(function () {
  "use strict";
  var live = document.querySelector(".live[data-live-url]");
  if (!live || !window.fetch || !window.DOMParser) return;
  var list = live.querySelector(".live__entries");
  var notice = live.querySelector(".live__notice");
  var interval = 1000 * (parseInt(live.getAttribute("data-poll-seconds"), 10) || 30);
  var maxInterval = 300000;
  var delay = interval;
  var timer = null;
  var lastTag = null;
  var waiting = []; // updates fetched, not shown yet: newest first
  var moreThanFetched = false;
  var ended = false; // the editors closed the coverage: no more polls

  function shownIds() {
    var ids = {};
    live.querySelectorAll("[data-entry]").forEach(function (entry) {
      ids[entry.getAttribute("data-entry")] = true;
    });
    return ids;
  }

  function say(text, withButton) {
    // The notice keeps its height whatever it says (site.css): nothing below it moves.
    var shown = notice.querySelector(".live__show");
    if (withButton && shown) {
      // The same button with new words: a reader on it (focused, about to click) stays on it. The
      // same words again are not touched, so that nothing is announced twice.
      if (shown.textContent !== text) shown.textContent = text;
      return;
    }
    notice.textContent = "";
    var line = document.createElement("p");
    if (withButton) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "live__show";
      button.textContent = text;
      button.addEventListener("click", showWaiting);
      line.className = "live__action";
      line.appendChild(button);
    } else {
      line.textContent = text;
    }
    notice.appendChild(line);
  }

  function idle() {
    say(ended ? "This coverage has ended." : "Up to date. New updates appear here.", false);
  }

  function announce() {
    var count = waiting.length;
    if (!count) return;
    var words = (moreThanFetched ? "More than " + count : count) + (count === 1 ? " new update" : " new updates");
    say(moreThanFetched ? words + ": reload the page" : words + ": show", true);
  }

  function showWaiting() {
    if (moreThanFetched) {
      window.location.reload();
      return;
    }
    if (!list) {
      list = document.createElement("ol");
      list.className = "live__entries";
      var empty = live.querySelector(".live__empty");
      if (empty) empty.replaceWith(list);
      else live.appendChild(list);
    }
    var first = null;
    for (var i = waiting.length - 1; i >= 0; i--) {
      list.insertBefore(waiting[i], list.firstChild);
      first = waiting[i];
    }
    waiting = [];
    idle();
    // Their players get their "Load" buttons (embeds.js), as the ones on the page did.
    list.dispatchEvent(new CustomEvent("live:shown", { bubbles: true }));
    // The reader asked for them: take them to the newest, where they can read on down.
    if (first) {
      first.setAttribute("tabindex", "-1");
      first.focus({ preventScroll: false });
    }
  }

  function received(html) {
    var fragment = new DOMParser().parseFromString(html, "text/html");
    var fetched = fragment.querySelector(".live__entries");
    if (!fetched) return;
    if (fetched.getAttribute("data-coverage") !== "live" && !ended) {
      ended = true;
      stop();
      // The heading loses its "Live" mark, as a reload would show it (story_body.html).
      var heading = live.querySelector(".live__heading");
      if (heading) heading.textContent = "Updates";
    }
    var shown = shownIds();
    var fresh = [];
    fetched.querySelectorAll("[data-entry]").forEach(function (entry) {
      if (!shown[entry.getAttribute("data-entry")]) fresh.push(document.importNode(entry, true));
    });
    var total = parseInt(fetched.getAttribute("data-total"), 10) || 0;
    var count = Object.keys(shown).length;
    moreThanFetched = total - count > fresh.length;
    var before = waiting.length;
    waiting = fresh;
    if (waiting.length) {
      if (waiting.length !== before || moreThanFetched) announce();
    } else if (before || ended) {
      idle(); // the updates announced were deleted, or the coverage ended: say so, offer nothing
    }
  }

  var inFlight = false;
  function poll() {
    timer = null;
    if (inFlight) return;
    inFlight = true;
    fetch(live.getAttribute("data-live-url"), { cache: "no-cache", credentials: "omit" })
      .then(function (response) {
        if (!response.ok) {
          var error = new Error(response.status);
          // Retry-After in seconds; a date is read as none.
          error.retryAfter = 1000 * (parseInt(response.headers.get("Retry-After"), 10) || 0);
          throw error;
        }
        delay = interval;
        var tag = response.headers.get("ETag");
        if (tag && tag === lastTag) return null; // unchanged (the browser's copy, revalidated)
        lastTag = tag;
        return response.text();
      })
      .then(function (html) {
        if (html !== null) received(html);
      })
      .catch(function (error) {
        // The server is busy or away: ask less often, and not before it said to come back (503, 429).
        delay = Math.min(Math.max(delay * 2, error.retryAfter || 0), maxInterval);
      })
      .then(function () {
        inFlight = false;
        schedule();
      });
  }

  var stopped = false;
  function stop() {
    stopped = true;
    if (timer) clearTimeout(timer);
    timer = null;
  }

  function schedule() {
    if (stopped || document.hidden || timer || inFlight) return;
    timer = setTimeout(poll, delay);
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      if (timer) clearTimeout(timer);
      timer = null;
    } else if (!stopped && !timer) {
      poll(); // back on the tab: catch up at once
    }
  });

  say("New updates appear here as they are posted.", false);
  schedule();
})();
