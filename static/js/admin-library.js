// The image library's admin pages: click (or use the arrow keys on) a picture to set its focal point,
// and on "Add several images" drop files and describe each beside its name. Without this script the
// same forms work with number fields and one line of alt text per file.
"use strict";
(function () {
  const KEY_STEP = 0.05;

  function initFocalPoint() {
    const box = document.querySelector(".focal-point");
    const x = document.getElementById("id_focal_x");
    const y = document.getElementById("id_focal_y");
    if (!box || !x || !y) return;
    const marker = box.querySelector(".focal-point__marker");
    box.tabIndex = 0;
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", "Focal point: click the subject, or move it with the arrow keys");
    marker.hidden = false;

    function show() {
      marker.style.left = `${Number(x.value) * 100}%`;
      marker.style.top = `${Number(y.value) * 100}%`;
    }
    function set(fx, fy) {
      x.value = Math.min(1, Math.max(0, fx)).toFixed(2);
      y.value = Math.min(1, Math.max(0, fy)).toFixed(2);
      show();
    }
    box.addEventListener("click", (event) => {
      const rect = box.querySelector("img").getBoundingClientRect();
      set((event.clientX - rect.left) / rect.width, (event.clientY - rect.top) / rect.height);
    });
    box.addEventListener("keydown", (event) => {
      const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
      const move = moves[event.key];
      if (!move) return;
      event.preventDefault();
      set(Number(x.value) + move[0] * KEY_STEP, Number(y.value) + move[1] * KEY_STEP);
    });
    x.addEventListener("input", show);
    y.addEventListener("input", show);
    show();
  }

  function initBatchUpload() {
    const form = document.getElementById("image-batch-form");
    if (!form) return;
    const input = form.querySelector("input[type=file]");
    const alts = form.querySelector("textarea[name=alts]");
    const list = document.createElement("ol");
    list.className = "batch-files";
    input.closest(".form-row").after(list);
    const altsRow = alts.closest(".form-row");

    function rows() {
      return Array.from(list.querySelectorAll("input[type=text]"));
    }
    function sync() {
      alts.value = rows().map((field) => field.value.replace(/\s+/g, " ").trim()).join("\n");
    }
    function render() {
      const written = alts.value.split("\n");
      list.replaceChildren();
      Array.from(input.files).forEach((file, index) => {
        const item = document.createElement("li");
        const label = document.createElement("label");
        const field = document.createElement("input");
        field.type = "text";
        field.required = true;
        field.maxLength = 250;
        field.className = "vTextField";
        field.id = `batch-alt-${index}`;
        field.value = written[index] || "";
        label.htmlFor = field.id;
        label.textContent = `Alt text for ${file.name}`;
        field.addEventListener("input", sync);
        item.append(label, field);
        list.append(item);
      });
      altsRow.hidden = input.files.length > 0;
      sync();
    }
    input.addEventListener("change", render);

    const zone = input.closest(".form-row");
    zone.classList.add("drop-zone");
    ["dragenter", "dragover"].forEach((name) =>
      zone.addEventListener(name, (event) => {
        event.preventDefault();
        zone.classList.add("drop-zone--over");
      }),
    );
    ["dragleave", "drop"].forEach((name) =>
      zone.addEventListener(name, () => zone.classList.remove("drop-zone--over")),
    );
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      if (event.dataTransfer && event.dataTransfer.files.length) {
        input.files = event.dataTransfer.files;
        render();
      }
    });
    if (input.files.length) render();
  }

  function init() {
    initFocalPoint();
    initBatchUpload();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
