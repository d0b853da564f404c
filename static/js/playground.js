/* Playground: streams a chat completion from the gateway's own /v1/chat/completions with the
   user's API key, shows the reply as it arrives, then its tokens, cost and credits. No
   dependencies. */
(function () {
  "use strict";

  var form = document.getElementById("playground-form");
  if (!form) return;
  var section = form.closest(".playground");
  var keyInput = document.getElementById("playground-key");
  var modelSelect = document.getElementById("playground-model");
  var systemInput = document.getElementById("playground-system");
  var promptInput = document.getElementById("playground-prompt");
  var sendButton = document.getElementById("playground-send");
  var clearButton = document.getElementById("playground-clear");
  var errorBox = document.getElementById("playground-error");
  var transcript = document.getElementById("playground-transcript");
  var output = document.getElementById("playground-output");
  var costLine = document.getElementById("playground-cost");
  var storageKey = keyInput.getAttribute("data-storage-key");
  var history = [];

  try {
    keyInput.value = window.sessionStorage.getItem(storageKey) || "";
  } catch (error) { /* storage unavailable: the user pastes the key again */ }

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = !message;
  }

  function addTurn(role, text) {
    var line = document.createElement("p");
    line.className = "from-" + role;
    line.textContent = text;
    transcript.appendChild(line);
  }

  function dollars(amount) {
    return "$" + (amount < 0.01 ? amount.toFixed(6) : amount.toFixed(4));
  }

  function showCost(usage, requestId) {
    var option = modelSelect.options[modelSelect.selectedIndex];
    var inPrice = parseFloat(option.getAttribute("data-input-price")) || 0;
    var outPrice = parseFloat(option.getAttribute("data-output-price")) || 0;
    var cost = (usage.prompt_tokens * inPrice + usage.completion_tokens * outPrice) / 1e6;
    var credits = parseInt(section.getAttribute("data-credits-per-call"), 10) || 0;
    costLine.textContent =
      usage.prompt_tokens + " tokens in, " + usage.completion_tokens + " out · " +
      dollars(cost) + " at this model's prices · " + credits + " credit" +
      (credits === 1 ? "" : "s") + (requestId ? " · request " + requestId : "");
  }

  function errorMessage(status, text) {
    try {
      var body = JSON.parse(text);
      if (body.error && body.error.message) return body.error.message + " (" + status + ")";
    } catch (error) { /* not JSON */ }
    return "The gateway answered " + status + ".";
  }

  /* Reads server-sent events; calls onEvent with each parsed `data:` object. */
  async function readEvents(response, onEvent) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var pending = "";
    for (;;) {
      var chunk = await reader.read();
      if (chunk.done) break;
      pending += decoder.decode(chunk.value, { stream: true });
      var lines = pending.split("\n");
      pending = lines.pop();
      for (var i = 0; i < lines.length; i++) {
        var line = lines[i].trim();
        if (line.indexOf("data:") !== 0) continue;
        var data = line.slice(5).trim();
        if (data === "[DONE]") return;
        onEvent(JSON.parse(data));
      }
    }
  }

  async function send(event) {
    event.preventDefault();
    var key = keyInput.value.trim();
    var prompt = promptInput.value.trim();
    showError("");
    if (!key) { showError("Paste one of your API keys first."); keyInput.focus(); return; }
    if (!prompt) { showError("Write a message."); promptInput.focus(); return; }
    try { window.sessionStorage.setItem(storageKey, key); } catch (error) { /* ignore */ }

    var messages = [];
    if (systemInput.value.trim()) messages.push({ role: "system", content: systemInput.value.trim() });
    messages = messages.concat(history, [{ role: "user", content: prompt }]);
    if (output.textContent) addTurn("assistant", output.textContent); /* the previous reply */
    addTurn("user", prompt);
    promptInput.value = "";
    output.textContent = "";
    costLine.textContent = "";
    output.classList.add("streaming");
    sendButton.disabled = true;

    var reply = "";
    try {
      var response = await fetch("/v1/chat/completions", {
        method: "POST",
        headers: { "Content-Type": "application/json", "Authorization": "Bearer " + key },
        body: JSON.stringify({
          model: modelSelect.value,
          messages: messages,
          stream: true,
          stream_options: { include_usage: true }
        })
      });
      if (!response.ok) {
        showError(errorMessage(response.status, await response.text()));
        transcript.removeChild(transcript.lastChild);
        return;
      }
      var usage = null;
      await readEvents(response, function (data) {
        if (data.error) throw new Error(data.error.message || "The stream failed.");
        (data.choices || []).forEach(function (choice) {
          var piece = choice.delta && choice.delta.content;
          if (piece) { reply += piece; output.textContent = reply; }
        });
        if (data.usage) usage = data.usage;
      });
      history.push({ role: "user", content: prompt }, { role: "assistant", content: reply });
      if (usage) showCost(usage, response.headers.get("X-Request-Id"));
    } catch (error) {
      showError(error.message || "The connection to the gateway failed.");
    } finally {
      output.classList.remove("streaming");
      sendButton.disabled = false;
    }
  }

  form.addEventListener("submit", send);
  clearButton.addEventListener("click", function () {
    history = [];
    transcript.textContent = "";
    output.textContent = "";
    costLine.textContent = "";
    showError("");
  });
})();
