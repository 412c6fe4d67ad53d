// Quorum's few behaviours, kept here rather than inline: the Content-Security-Policy refuses
// inline scripts, event-handler attributes (onclick=…), hx-on (it needs eval) and style attributes.
(function () {
  "use strict";

  // A secret shown once (agent keys, people's tokens) is selected on focus, ready to copy.
  document.addEventListener("focusin", function (event) {
    if (event.target.matches && event.target.matches("[data-select-on-focus]")) {
      event.target.select();
    }
  });

  // Print buttons on the reports.
  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-print]")) {
      window.print();
    }
  });

  // Sizes that come from data (progress bars, trend bars) are set through the CSSOM, which the
  // policy allows, instead of style attributes in the markup, which it refuses.
  function applySizes(root) {
    root.querySelectorAll("[data-width-pct]").forEach(function (el) {
      el.style.width = el.dataset.widthPct + "%";
    });
    root.querySelectorAll("[data-height-pct]").forEach(function (el) {
      el.style.height = el.dataset.heightPct + "%";
    });
  }

  // A live panel marked data-swap-client-errors shows the server's 4xx answer (a sentence saying
  // why) instead of htmx dropping it.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    if (status >= 400 && status < 500 && event.target.closest && event.target.closest("[data-swap-client-errors]")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  if (window.htmx) {
    window.htmx.onLoad(applySizes); // the page itself, and every fragment htmx swaps in
  } else {
    document.addEventListener("DOMContentLoaded", function () { applySizes(document); });
  }
})();
