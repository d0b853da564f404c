/* Playground: streams a chat completion through the gateway as the signed-in user (the page's
   own …/playground/chat, session and CSRF token: no API key), shows the reply as it arrives,
   then its tokens, list-price cost and credits; "View code" shows the same call for curl, Python
   and Node. No dependencies. */
(function () {
  "use strict";

  var form = document.getElementById("playground-form");
  if (!form) return;
  var section = form.closest(".playground");
  var chatUrl = section.getAttribute("data-chat-url");
  var apiBase = section.getAttribute("data-api-base");
  var csrfToken = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  var modelSelect = document.getElementById("playground-model");
  var systemInput = document.getElementById("playground-system");
  var promptInput = document.getElementById("playground-prompt");
  var temperatureInput = document.getElementById("playground-temperature");
  var maxTokensInput = document.getElementById("playground-max-tokens");
  var sendButton = document.getElementById("playground-send");
  var clearButton = document.getElementById("playground-clear");
  var errorBox = document.getElementById("playground-error");
  var empty = document.getElementById("playground-empty");
  var transcript = document.getElementById("playground-transcript");
  var replyTurn = document.getElementById("playground-reply");
  var replyLabel = document.getElementById("playground-reply-label");
  var output = document.getElementById("playground-output");
  var costLine = document.getElementById("playground-cost");
  var codeBox = document.getElementById("playground-code");
  var codeText = document.getElementById("playground-code-text");
  var history = [];
  var language = "curl";

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = !message;
  }

  function addTurn(role, label, text) {
    var turn = document.createElement("div");
    turn.className = "turn from-" + role;
    var name = document.createElement("div");
    name.className = "turn-label";
    name.textContent = label;
    var body = document.createElement("div");
    body.className = "turn-text";
    body.textContent = text;
    turn.appendChild(name);
    turn.appendChild(body);
    transcript.appendChild(turn);
    empty.hidden = true;
    return turn;
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
      dollars(cost) + " at the model's list price · " + credits + " credit" +
      (credits === 1 ? "" : "s") + " of your plan" + (requestId ? " · request " + requestId : "");
  }

  function errorMessage(status, text) {
    try {
      var body = JSON.parse(text);
      if (body.error && body.error.message) return body.error.message + " (" + status + ")";
    } catch (error) { /* not JSON */ }
    if (status === 403) return "Your session has expired: reload the page and sign in again (403).";
    return "The gateway answered " + status + ".";
  }

  /* The request body for the conversation so far plus `prompt`. */
  function requestBody(prompt) {
    var messages = [];
    if (systemInput.value.trim()) messages.push({ role: "system", content: systemInput.value.trim() });
    messages = messages.concat(history, [{ role: "user", content: prompt }]);
    var body = { model: modelSelect.value, messages: messages };
    var temperature = parseFloat(temperatureInput.value);
    if (!isNaN(temperature)) body.temperature = temperature;
    var maxTokens = parseInt(maxTokensInput.value, 10);
    if (!isNaN(maxTokens)) body.max_tokens = maxTokens;
    return body;
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

  function checkNumbers() {
    var temperature = temperatureInput.value.trim();
    if (temperature && !(parseFloat(temperature) >= 0 && parseFloat(temperature) <= 2)) {
      temperatureInput.focus();
      return "Temperature must be a number from 0 to 2.";
    }
    var maxTokens = maxTokensInput.value.trim();
    if (maxTokens && !(parseInt(maxTokens, 10) >= 1)) {
      maxTokensInput.focus();
      return "Max tokens must be a whole number of at least 1.";
    }
    return "";
  }

  async function send(event) {
    event.preventDefault();
    var prompt = promptInput.value.trim();
    showError("");
    if (!prompt) { showError("Write a message first."); promptInput.focus(); return; }
    var problem = checkNumbers();
    if (problem) { showError(problem); return; }

    var body = requestBody(prompt);
    body.stream = true;
    body.stream_options = { include_usage: true };
    if (output.textContent) addTurn("assistant", replyLabel.textContent, output.textContent);
    var userTurn = addTurn("user", "You", prompt);
    replyTurn.hidden = true;
    replyLabel.textContent = modelSelect.value;
    output.textContent = "";
    costLine.textContent = "";
    output.classList.add("streaming");
    sendButton.disabled = true;
    sendButton.textContent = "Sending…";

    var reply = "";
    var answered = false;
    try {
      var response = await fetch(chatUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken },
        body: JSON.stringify(body)
      });
      if (!response.ok) {
        showError(errorMessage(response.status, await response.text()));
        return;
      }
      replyTurn.hidden = false;
      var usage = null;
      await readEvents(response, function (data) {
        if (data.error) throw new Error(data.error.message || "The stream failed.");
        (data.choices || []).forEach(function (choice) {
          var piece = choice.delta && choice.delta.content;
          if (piece) { reply += piece; output.textContent = reply; }
        });
        if (data.usage) usage = data.usage;
      });
      answered = true;
      history.push({ role: "user", content: prompt }, { role: "assistant", content: reply });
      promptInput.value = "";
      if (usage) showCost(usage, response.headers.get("X-Request-Id"));
    } catch (error) {
      showError(error.message || "The connection to the gateway failed.");
    } finally {
      if (!answered) {
        /* The prompt stays in the box to try again; the failed turn leaves the conversation. */
        transcript.removeChild(userTurn);
        if (!reply) replyTurn.hidden = true;
        output.textContent = reply ? output.textContent : "";
        empty.hidden = transcript.children.length > 0 || !replyTurn.hidden;
      }
      output.classList.remove("streaming");
      sendButton.disabled = false;
      sendButton.textContent = "Send";
      renderCode();
    }
  }

  function quoted(text) { return JSON.stringify(text); }

  /* The conversation (plus the message being written) as code, with the key from the
     environment: never a real secret on the page. */
  function renderCode() {
    if (!codeBox.open) return;
    var body = requestBody(promptInput.value.trim() || "Hello!");
    var json = JSON.stringify(body, null, 2);
    var code;
    if (language === "curl") {
      code = "curl " + apiBase + "/chat/completions \\\n" +
        '  -H "Authorization: Bearer $TOLLGATE_API_KEY" \\\n' +
        '  -H "Content-Type: application/json" \\\n' +
        "  -d '" + json.replace(/'/g, "'\\''") + "'";
    } else if (language === "python") {
      var args = ["    model=" + quoted(body.model), "    messages=" + pythonLiteral(body.messages, "    ")];
      if (body.temperature !== undefined) args.push("    temperature=" + body.temperature);
      if (body.max_tokens !== undefined) args.push("    max_tokens=" + body.max_tokens);
      code = "import os\nfrom openai import OpenAI\n\n" +
        "client = OpenAI(base_url=" + quoted(apiBase) + ', api_key=os.environ["TOLLGATE_API_KEY"])\n' +
        "completion = client.chat.completions.create(\n" + args.join(",\n") + ",\n)\n" +
        "print(completion.choices[0].message.content)";
    } else {
      code = 'import OpenAI from "openai";\n\n' +
        "const client = new OpenAI({ baseURL: " + quoted(apiBase) + ", apiKey: process.env.TOLLGATE_API_KEY });\n" +
        "const completion = await client.chat.completions.create(" +
        json + ");\n" +
        "console.log(completion.choices[0].message.content);";
    }
    codeText.textContent = code;
  }

  function pythonLiteral(messages, indent) {
    var lines = messages.map(function (m) {
      return indent + "    {\"role\": " + quoted(m.role) + ", \"content\": " + quoted(m.content) + "},";
    });
    return "[\n" + lines.join("\n") + "\n" + indent + "]";
  }

  form.addEventListener("submit", send);
  promptInput.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("input", renderCode);
  form.addEventListener("change", renderCode);
  codeBox.addEventListener("toggle", renderCode);
  Array.prototype.forEach.call(codeBox.querySelectorAll("[data-lang]"), function (tab) {
    tab.addEventListener("click", function () {
      language = tab.getAttribute("data-lang");
      Array.prototype.forEach.call(codeBox.querySelectorAll("[data-lang]"), function (other) {
        other.setAttribute("aria-selected", other === tab ? "true" : "false");
      });
      renderCode();
    });
  });
  clearButton.addEventListener("click", function () {
    history = [];
    transcript.textContent = "";
    output.textContent = "";
    replyTurn.hidden = true;
    empty.hidden = false;
    costLine.textContent = "";
    showError("");
    renderCode();
  });
})();
