// Forms with a data-confirm attribute ask before they submit (no inline handlers:
// the Content-Security-Policy allows scripts from this site's files only).
(function () {
  "use strict";
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });
})();
