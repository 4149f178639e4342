// The article body rendered by the site's own Markdown pipeline (a POST to the admin), shown beside the
// field while an editor types. No editor library: the textarea stays a textarea.
"use strict";
(function () {
  const DELAY_MS = 600;

  function init() {
    const body = document.getElementById("id_body");
    const panel = document.querySelector(".markdown-preview");
    if (!body || !panel || !body.form) return;
    const row = body.closest(".form-row") || body.parentNode;
    const status = panel.querySelector(".markdown-preview__status");
    const output = panel.querySelector(".markdown-preview__body");
    const csrf = body.form.querySelector("input[name=csrfmiddlewaretoken]");
    row.appendChild(panel);
    row.classList.add("with-preview");
    panel.hidden = false;

    let timer = null;
    let latest = 0;
    async function refresh() {
      const request = ++latest;
      status.textContent = "Updating preview…";
      try {
        const response = await fetch(panel.dataset.url, {
          method: "POST",
          credentials: "same-origin",
          headers: { "X-CSRFToken": csrf ? csrf.value : "" },
          body: new URLSearchParams({ body: body.value }),
        });
        const data = await response.json();
        if (request !== latest) return; // a newer keystroke's answer is on its way
        if (data.html !== undefined) {
          // Sanitized by the server with the same allowlist as the public page.
          output.innerHTML = data.html;
          status.textContent = "";
        } else {
          status.textContent = data.error || "The preview could not be rendered.";
        }
      } catch (error) {
        if (request === latest) status.textContent = "The preview is unavailable: " + error.message;
      }
    }
    body.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(refresh, DELAY_MS);
    });
    refresh();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
