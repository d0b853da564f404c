/* The workspace's tab bar on a narrow screen: the current tab scrolled into view. */
(function () {
  "use strict";
  var bar = document.querySelector(".tabs");
  var current = bar && bar.querySelector("[aria-current=page]");
  if (!current || bar.scrollWidth <= bar.clientWidth) return;
  bar.scrollLeft = current.offsetLeft - (bar.clientWidth - current.offsetWidth) / 2;
})();
