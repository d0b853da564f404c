/* The keys page: "All of the plan's scopes" greys out the single scopes it makes moot. */
(function () {
  "use strict";
  function sync(fieldset) {
    var all = fieldset.querySelector("input[name=all_plan_scopes]");
    var choices = fieldset.querySelectorAll("[data-scope-choices] input");
    for (var i = 0; i < choices.length; i++) choices[i].disabled = all.checked;
    fieldset.classList.toggle("scopes-all", all.checked);
  }
  var sets = document.querySelectorAll("[data-scopes]");
  for (var i = 0; i < sets.length; i++) {
    sync(sets[i]);
    sets[i].addEventListener("change", function (event) {
      sync(event.currentTarget);
    });
  }
})();
