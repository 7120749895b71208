// "Use my location" on Deals nearby: the browser's geolocation fills the form's latitude and longitude and sends it.
// Only a convenience: without JavaScript or geolocation the button stays hidden and the form is typed in.
(function () {
  "use strict";
  function ready() {
    var button = document.getElementById("locate");
    var form = document.getElementById("where");
    if (!button || !form || !("geolocation" in navigator)) return;
    var status = document.getElementById("locate-status");
    button.hidden = false;
    button.addEventListener("click", function () {
      button.disabled = true;
      navigator.geolocation.getCurrentPosition(
        function (position) {
          form.elements.lat.value = position.coords.latitude.toFixed(5);
          form.elements.lng.value = position.coords.longitude.toFixed(5);
          form.submit();
        },
        function () {
          button.disabled = false;
          if (status) status.textContent = button.getAttribute("data-failed");
        },
        { enableHighAccuracy: false, timeout: 10000, maximumAge: 300000 }
      );
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
})();
