/* Embeds (articles/embeds/facades.py): until a reader asks, nothing of the provider's is loaded; the
   facade shows the title and picture we stored. A click on the button put here replaces the picture
   with the provider's player, in the same box (no layout shift), sandboxed, on the privacy-enhanced
   host the server named. Without this script the facade's link opens the original. */
(function () {
  "use strict";

  // The only players this page may load; the CSP's frame-src names the ones it shows.
  var ORIGINS = ["https://www.youtube-nocookie.com", "https://player.vimeo.com", "https://codepen.io"];

  function load(figure, box, button) {
    var url;
    try {
      url = new URL(figure.getAttribute("data-embed-src"));
    } catch (error) {
      return;
    }
    if (ORIGINS.indexOf(url.origin) === -1) {
      return;
    }
    if (figure.classList.contains("embed--video")) {
      url.searchParams.set("autoplay", "1"); // the click was the reader's request to play
    }
    var frame = document.createElement("iframe");
    frame.className = "embed__player";
    frame.src = url.href;
    frame.title = figure.getAttribute("data-embed-title") || "Embedded player";
    frame.width = figure.getAttribute("data-embed-width") || "1280";
    frame.height = figure.getAttribute("data-embed-height") || "720";
    frame.setAttribute("sandbox", figure.getAttribute("data-embed-sandbox") || "");
    frame.setAttribute("allow", figure.getAttribute("data-embed-allow") || "");
    frame.setAttribute("referrerpolicy", "strict-origin-when-cross-origin");
    frame.setAttribute("loading", "eager");
    box.replaceChildren(frame);
    figure.classList.add("embed--loaded");
    frame.focus();
    button.remove();
  }

  function offer(root) {
    root.querySelectorAll("figure.embed[data-embed-src]:not(.embed--loaded)").forEach(function (figure) {
      var box = figure.querySelector(".embed__frame");
      if (!box || box.querySelector(".embed__load")) {
        return;
      }
      var button = document.createElement("button");
      button.type = "button";
      button.className = "embed__load";
      button.textContent = figure.getAttribute("data-embed-action") || "Load";
      button.setAttribute("aria-label", button.textContent + ": " + (figure.getAttribute("data-embed-title") || ""));
      button.addEventListener("click", function () {
        load(figure, box, button);
      });
      box.appendChild(button);
    });
  }

  offer(document);
  // Live coverage (live.js) puts new updates on the page when the reader asks: their players too.
  document.addEventListener("live:shown", function (event) {
    offer(event.target);
  });
})();
