/* A refusal (400, 409, 422, 429) answers an HTMX form of the live pages with the part to show it in, in the API's
   words; HTMX swaps only 2xx answers unless told, so forms marked data-swap-refusals are told here. */
(function () {
  "use strict";
  var SHOWN = { 400: true, 409: true, 422: true, 429: true };
  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    // The form that asked (the event's own element is the target it swaps into).
    var asker = detail.requestConfig && detail.requestConfig.elt;
    if (SHOWN[detail.xhr.status] && asker && asker.closest && asker.closest("[data-swap-refusals]")) {
      detail.shouldSwap = true;
      detail.isError = false;
    }
  });
})();
