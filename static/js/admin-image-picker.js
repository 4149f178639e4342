// "Insert image" beside the article body: search the library, pick a picture, and its Markdown line
// goes in at the cursor. A <dialog> gives the keyboard what it needs (focus inside, Escape closes,
// focus back where it was). Without JavaScript, each image's page shows the line to paste.
"use strict";
(function () {
  const SEARCH_DELAY_MS = 250;
  const FIGURE_LINE = /^ {0,3}!\[[^\]\n]*\]\(image:\d+( +"[^"\n]*")?\)(\{\.[a-z-]+\})? *$/;

  function init() {
    const body = document.getElementById("id_body");
    const dialog = document.getElementById("image-picker");
    if (!body || !dialog) return;
    const search = dialog.querySelector("input[type=search]");
    const layout = dialog.querySelector("select");
    const results = dialog.querySelector(".image-picker__results");
    const status = dialog.querySelector(".image-picker__status");
    let cursor = { start: 0, end: 0 };

    const open = document.createElement("button");
    open.type = "button";
    open.className = "button image-picker__open";
    open.textContent = "Insert image";
    open.setAttribute("aria-haspopup", "dialog");
    body.closest(".form-row").querySelector("label").after(open);

    open.addEventListener("click", () => {
      cursor = { start: body.selectionStart, end: body.selectionEnd };
      dialog.hidden = false;
      dialog.showModal();
      search.focus();
      load();
    });
    // Closed without a choice, the browser hands the focus back to "Insert image", as dialogs do.
    dialog.querySelector(".image-picker__close").addEventListener("click", () => dialog.close());

    let timer = null;
    let latest = 0;
    search.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(load, SEARCH_DELAY_MS);
    });

    async function load() {
      const request = ++latest;
      status.textContent = "Searching…";
      try {
        const url = `${dialog.dataset.url}?q=${encodeURIComponent(search.value)}`;
        const response = await fetch(url, { credentials: "same-origin" });
        const data = await response.json();
        if (request !== latest) return;
        show(data.results || []);
      } catch (error) {
        if (request === latest) status.textContent = "The library could not be searched. Try again.";
      }
    }

    function show(found) {
      results.replaceChildren();
      status.textContent = found.length
        ? `${found.length} image${found.length === 1 ? "" : "s"}. Choose one to insert it.`
        : "No image matches. Add one with “Add image” in the library.";
      for (const item of found) {
        const li = document.createElement("li");
        const pick = document.createElement("button");
        pick.type = "button";
        pick.className = "image-picker__choice";
        const thumb = document.createElement("img");
        thumb.src = item.thumbnail;
        thumb.alt = "";
        thumb.width = 96;
        thumb.height = item.width ? Math.round((96 * item.height) / item.width) : 54;
        const label = document.createElement("span");
        label.textContent = item.alt || "(no alt text)";
        const credit = document.createElement("span");
        credit.className = "image-picker__credit";
        credit.textContent = item.credit;
        pick.append(thumb, label, credit);
        pick.addEventListener("click", () => insert(item.markdown));
        li.append(pick);
        results.append(li);
      }
    }

    function insert(markdown) {
      const text = body.value;
      const before = text.slice(0, cursor.start);
      const after = text.slice(cursor.end);
      const line = markdown + (layout.value ? `{.${layout.value}}` : "");
      const previousLine = before.split("\n").at(-1) === "" ? before.split("\n").at(-2) || "" : "";
      // Right under another picture: one line break, so the two make a gallery. Elsewhere, a paragraph.
      let lead = "";
      if (before && previousLine && FIGURE_LINE.test(previousLine)) lead = "";
      else if (before && !before.endsWith("\n\n")) lead = before.endsWith("\n") ? "\n" : "\n\n";
      const tail = after.startsWith("\n") ? "\n" : after ? "\n\n" : "\n";
      body.value = before + lead + line + tail + after;
      dialog.close();
      // Chosen: back in the body, just after the picture, to go on writing.
      const position = (before + lead + line + tail).length;
      body.focus();
      body.setSelectionRange(position, position);
      body.dispatchEvent(new Event("input", { bubbles: true }));
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
