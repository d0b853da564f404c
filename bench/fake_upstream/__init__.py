"""Fake upstream model server for Tollgate: OpenAI, Anthropic and Ollama wire formats.

Run it::

    python -m bench.fake_upstream --port 9100 [--host 127.0.0.1] [--latency-ms N]
        [--chunk-delay-ms N] [--status CODE] [--reply-tokens N] [--require-key K ...]
        [--model NAME ...] [--any-model]

(``--port 0`` picks a free port; the first stdout line is ``fake upstream listening on URL``.)
Or in-process, each instance on its own thread and asyncio loop::

    from bench.fake_upstream import FakeUpstream
    with FakeUpstream(port=0) as up:           # or: up = FakeUpstream().start(); up.stop()
        up.url                                 # "http://127.0.0.1:PORT"
        up.configure(status=500)               # same keys as POST /_fake/config
        up.requests, up.clear(), up.reset(), up.wait_for(lambda reqs: ...)

Endpoints (one server speaks all three APIs at once):

* OpenAI: ``POST /v1/chat/completions`` (stream, ``stream_options.include_usage`` → a last
  chunk with ``choices: []`` and usage, tool_calls deltas), ``POST /v1/completions``,
  ``POST /v1/embeddings`` (``encoding_format`` float or base64, ``dimensions``),
  ``GET /v1/models`` and ``/v1/models/{id}``. Ollama's OpenAI-compatible ``/v1`` is the same.
* OpenAI Responses: ``POST /v1/responses`` (input string or items, instructions, flat function
  tools, ``text.format``, ``reasoning``, ``max_output_tokens``; streams of typed events with
  ``sequence_number`` ending with ``response.completed``), for gateways' native mode.
* Anthropic: ``POST /v1/messages`` (SSE: message_start, content_block_start, ping,
  content_block_delta with text_delta / input_json_delta / thinking_delta + signature_delta,
  content_block_stop, message_delta with stop_reason and usage, message_stop; text-only
  ``{"role": "system"}`` messages inside ``messages`` count as system prompts, others are refused
  with Anthropic's ``Unexpected role "system"`` wording) and
  ``POST /v1/messages/count_tokens``.
* Ollama: ``/api/chat``, ``/api/generate`` (NDJSON streams by default, final line ``done:
  true`` with ``prompt_eval_count``, ``eval_count`` and durations in ns), ``/api/embed``,
  ``/api/embeddings``, ``GET /api/tags``, ``/api/ps``, ``/api/version``, ``POST /api/show``,
  ``/api/create`` (JSON form: model, from, system, template, messages, parameters, license;
  a legacy ``modelfile`` string is parsed too), ``DELETE /api/delete``, ``/api/copy``,
  ``/api/pull``; ``GET /`` answers "Ollama is running".

The deterministic model:

* ``count_tokens(text)`` = number of ``\\w+|[^\\w\\s]`` matches.
* Prompt tokens = for every message (a system prompt included): ``MESSAGE_OVERHEAD`` (3) +
  tokens of its text + ``IMAGE_TOKENS`` (85) per image + tokens of tool-call names and
  arguments; plus, when tools are offered, the tokens of their compact sorted JSON
  ``[{"name","description","parameters"}]``. A created model's system prompt and few-shot
  messages count too. Legacy completions count prompt tokens only (no overhead); embeddings
  count input tokens (token-id arrays count their length). count_tokens endpoints agree.
* The reply: ``DEFAULT_REPLY_TOKENS`` (12) words from a 64-word list, seeded by a hash of the
  last user message; when a system prompt applies (the request's, or a created model's) the
  first word is replaced by the longest word of that system prompt. Cut by max_tokens /
  max_completion_tokens / num_predict (finish_reason "length", stop_reason "max_tokens",
  done_reason "length") or at the first stop sequence (finish "stop" with the matched string
  as the choice's ``stop_reason``, as vLLM reports it; Anthropic stop_reason "stop_sequence" +
  stop_sequence). Completion tokens = tokens actually produced (tool-call
  name + arguments for tool calls; reasoning text included, see below).
* Tools offered, tool_choice not "none" and the last message not a tool result → one call to
  the chosen tool (else the first) with arguments from its schema (enum → first value,
  string → "sample", number/integer → 1, boolean → true, objects recursively, arrays of one
  item); finish "tool_calls" / stop_reason "tool_use". After a tool result the reply is
  ``"The tool returned: <result>"``. JSON modes (response_format json_object / json_schema,
  Ollama ``format``) reply with a JSON object (from the schema when there is one).
* Reasoning: OpenAI side returns ``reasoning_content`` (and reasoning_tokens) when the request
  has ``reasoning_effort`` or the model name contains "reason"; Anthropic ``thinking`` (any type
  but "disabled") gives a thinking block with a signature before the answer; Ollama ``think``
  gives ``message.thinking``. Reasoning tokens are part of completion/output/eval tokens and
  are not limited by max_tokens.
* Embeddings: unit vectors from a SHAKE-256 hash of each input, 16 dims unless ``dimensions``.
* Models: ``BASE_MODELS`` (llama3.2, qwen2.5:7b, glm-4.5-air, nomic-embed-text,
  deepseek-reasoner, gpt-4o-mini, gpt-4o, text-embedding-3-small, claude-sonnet-4-6,
  claude-haiku-4-5) plus extra ``models`` and those made with /api/create (per instance, in
  memory). A name without a tag means ``:latest``. Unknown model → 404 in the API's format
  (OpenAI code "model_not_found", Ollama ``model "x" not found, try pulling it first``,
  Anthropic not_found_error); chatting with an embedding model → 400. Malformed JSON → 400.

Directives, anywhere in the last user message (Ollama/legacy: the prompt; embeddings: input):
``[[reply:exact text]]``, ``[[tokens:N]]`` reply length, ``[[status:CODE]]`` error in the API's
format (429 with Retry-After, ``[[retry_after:S]]``), ``[[latency:MS]]`` before headers,
``[[chunk_delay:MS]]`` between stream events, ``[[drop_after:N]]`` close the connection after
N stream events (non-streamed: after half the body), ``[[stall_after:N]]`` stop sending but keep
the connection open until the client leaves, ``[[garbage]]`` 200 with invalid JSON (streams:
invalid events), ``[[error_200]]`` / ``[[error_200:N]]`` HTTP 200 carrying an error body (streams:
an in-band error event after N events), ``[[no_usage]]`` omit usage everywhere,
``[[huge:BYTES]]`` a 200 body padded to BYTES (a ``padding`` member; streams: one line of BYTES
that never ends),
``[[prompt_tokens:N]]`` report N prompt tokens (OpenAI chat; negative or huge: a broken upstream).

Control API (not recorded): ``POST /_fake/config`` with any of ``CONFIG_DEFAULTS`` (status,
status_times, latency_ms, chunk_delay_ms, require_keys, key_status, reply_tokens, retry_after,
close_delimited, any_model, stall_max_s, models, directives: a string of directives every API
request gets as if its prompt began with them, so that one instance misbehaves while another
sent the same prompt does not) and ``reset: true`` (defaults, base models,
no recorded requests) — answers the resulting config, 400 for unknown keys; ``GET
/_fake/config``; ``GET /_fake/requests[?limit=N]`` (oldest first, at most 1000: id, time,
method, path, query, headers, body, api, model, stream, status, directives, system,
events_sent, completed, disconnected, dropped, stalled); ``DELETE /_fake/requests``;
``POST /_fake/reset``; ``GET /_fake/health``. Keys come from ``Authorization: Bearer`` or
``x-api-key``; with ``require_keys`` set, other keys (or none) get 401 in the API's format.

HTTP: raw ``asyncio.start_server`` with a small HTTP/1.1 parser (keep-alive, pipelining,
Content-Length or chunked request bodies, Expect: 100-continue); streams use chunked
encoding, or are close-delimited for HTTP/1.0 clients and with ``close_delimited``; every event
is flushed with ``drain()`` and a client that leaves mid-stream is noticed (``disconnected``).

Benchmark (2-core sandbox, Python 3.11, no uvloop; server pinned to one core with taskset,
``wrk -t1 -c32 -d5s`` on the other, keep-alive): ~7,500-8,700 req/s for a small non-streamed
/v1/chat/completions, ~8,700 req/s for /api/chat and ~8,900 req/s for /v1/messages,
~10,000 req/s for GET /v1/models, and ~3,500 full streamed chat completions/s (16 SSE events
each, ~56,000 events/s).
"""

from .base import BASE_MODELS, ModelInfo
from .content import (
    DEFAULT_EMBEDDING_DIMS,
    DEFAULT_REPLY_TOKENS,
    IMAGE_TOKENS,
    MESSAGE_OVERHEAD,
    count_tokens,
    embedding,
    parse_directives,
)
from .server import CONFIG_DEFAULTS, FakeUpstream, State, prompt_tokens_for, serve

__all__ = [
    "BASE_MODELS",
    "CONFIG_DEFAULTS",
    "DEFAULT_EMBEDDING_DIMS",
    "DEFAULT_REPLY_TOKENS",
    "IMAGE_TOKENS",
    "MESSAGE_OVERHEAD",
    "FakeUpstream",
    "ModelInfo",
    "State",
    "count_tokens",
    "embedding",
    "parse_directives",
    "prompt_tokens_for",
    "serve",
]
