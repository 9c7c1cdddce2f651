// Fill in the visitor's time zone from the browser when the page was opened without ?tz=.
// The pages work without this script: the zone can be picked from the list.
(function () {
  try {
    var url = new URL(window.location.href);
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (!zone) return;
    if (!url.searchParams.get("tz") && document.querySelector("[data-tz-detected='no']")) {
      url.searchParams.set("tz", zone);
      window.location.replace(url.toString());
      return;
    }
    var hidden = document.querySelector("input[name='timeZone']");
    if (hidden && !url.searchParams.get("tz")) hidden.value = zone;
    // Picking another zone in the list does not reload the page by itself: with the keyboard, every arrow
    // key would (WCAG 3.2.2, On Input). The Change button next to the list shows the times in the new zone.
  } catch (e) { /* old browser: the zone list still works */ }
})();
