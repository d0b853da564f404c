/* Docs page: a new key choice reloads the samples; a pasted full key fills them in this page only
   (it is never sent anywhere and is gone on reload). No dependencies. */
(function () {
  "use strict";

  var form = document.querySelector("form[data-autosubmit]");
  if (form) {
    var button = form.querySelector("[data-autosubmit-button]");
    if (button) button.style.display = "none"; // .button sets display: `hidden` would not hide it
    form.addEventListener("change", function () { form.submit(); });
  }

  var input = document.querySelector("[data-key-input]");
  if (!input) return;
  var placeholder = input.getAttribute("data-key-placeholder");
  var slots = document.querySelectorAll("[data-key-slot]");

  input.addEventListener("input", function () {
    var key = input.value.trim();
    var usable = /^sk-tg-[0-9A-Za-z]{20,}$/.test(key);
    input.setAttribute("aria-invalid", key && !usable ? "true" : "false");
    for (var i = 0; i < slots.length; i++) {
      slots[i].textContent = usable ? key : placeholder;
      slots[i].classList.toggle("key-filled", usable);
    }
  });
})();
