"""Deterministic "model": tokenizer, directives, request normalisation and reply generation.

Nothing here knows about HTTP or a wire format beyond turning each API's request into a
neutral :class:`Chat` and a :class:`Reply` back.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

TOKEN_RE = re.compile(r"\w+|[^\w\s]")
#: Tokens added for every message (system prompt included) on top of its content.
MESSAGE_OVERHEAD = 3
#: Tokens charged for every image (image_url part, Anthropic image block, Ollama image).
IMAGE_TOKENS = 85
#: Default reply length in tokens.
DEFAULT_REPLY_TOKENS = 12
#: Default embedding width.
DEFAULT_EMBEDDING_DIMS = 16

_WORD_TEXT = """
alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar
papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu amber birch cedar dune
ember fjord grove harbor island jade kelp lagoon meadow nectar orchid pebble quartz river summit
timber umber valley willow yarrow zephyr apple basil clover daisy elm fern ginger hazel iris
juniper lotus maple olive
"""
#: The reply vocabulary: 64 single-token words.
WORDS = tuple(_WORD_TEXT.split())
assert len(WORDS) == 64, len(WORDS)


def count_tokens(text: str | None) -> int:
    """The fake tokenizer: the number of ``\\w+|[^\\w\\s]`` regex matches in ``text``."""
    if not text:
        return 0
    return _count(text)


@lru_cache(maxsize=8192)
def _count(text: str) -> int:
    return len(TOKEN_RE.findall(text))


def token_pieces(text: str) -> list[str]:
    """Split ``text`` into one piece per token, each carrying the whitespace before it.

    ``"".join(token_pieces(t)) == t`` and ``count_tokens`` of any prefix of the pieces equals
    the number of pieces in it (trailing whitespace rides on the last piece).
    """
    return list(_pieces(text))


@lru_cache(maxsize=4096)
def _pieces(text: str) -> tuple[str, ...]:
    pieces: list[str] = []
    last = 0
    for match in TOKEN_RE.finditer(text):
        pieces.append(text[last : match.end()])
        last = match.end()
    if last < len(text):
        if pieces:
            pieces[-1] += text[last:]
        else:
            pieces.append(text[last:])
    return tuple(pieces)


def group(pieces: list[str], size: int) -> list[str]:
    return ["".join(pieces[i : i + size]) for i in range(0, len(pieces), size)]


# --------------------------------------------------------------------------- directives

DIRECTIVE_RE = re.compile(r"\[\[([a-z_0-9]+)(?::(.*?))?\]\]", re.S)
_INT_DIRECTIVES = {
    "status": "status",
    "latency": "latency_ms",
    "drop_after": "drop_after",
    "stall_after": "stall_after",
    "retry_after": "retry_after",
    "chunk_delay": "chunk_delay_ms",
    "tokens": "tokens",
    "huge": "huge",
    "prompt_tokens": "prompt_tokens",
}


@dataclass(slots=True)
class Directives:
    """Per-request behaviour chosen with ``[[name]]`` / ``[[name:value]]`` in the prompt."""

    reply: str | None = None
    status: int | None = None
    latency_ms: int | None = None
    drop_after: int | None = None
    stall_after: int | None = None
    retry_after: int | None = None
    chunk_delay_ms: int | None = None
    tokens: int | None = None
    garbage: bool = False
    error_200: int | None = None  # events before the in-band error (0 = straight away)
    no_usage: bool = False
    huge: int | None = None  # bytes: a body padded to this size, or a stream line this long
    prompt_tokens: int | None = None  # the prompt tokens reported, whatever they were (OpenAI)

    def names(self) -> list[str]:
        return [
            name
            for name in self.__slots__
            if getattr(self, name) not in (None, False)  # type: ignore[attr-defined]
        ]


NO_DIRECTIVES = Directives()


def parse_directives(text: str) -> Directives:
    if not text or "[[" not in text:
        return NO_DIRECTIVES
    found = Directives()
    for name, value in DIRECTIVE_RE.findall(text):
        if name == "reply":
            found.reply = value
        elif name in _INT_DIRECTIVES:
            try:
                setattr(found, _INT_DIRECTIVES[name], int(value))
            except ValueError:
                continue
        elif name == "garbage":
            found.garbage = True
        elif name == "no_usage":
            found.no_usage = True
        elif name == "error_200":
            found.error_200 = int(value) if value.isdigit() else 0
    return found


# --------------------------------------------------------------------------- normalised chat


@dataclass(slots=True)
class Turn:
    role: str  # system | user | assistant | tool
    text: str = ""
    images: int = 0
    tool_calls: list[tuple[str, str]] = field(default_factory=list)  # (name, arguments json)
    tool_result: bool = False


@dataclass(slots=True)
class Tool:
    name: str
    description: str = ""
    schema: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Chat:
    model: str
    turns: list[Turn] = field(default_factory=list)
    system: str | None = None  # a system prompt kept outside the turns (Anthropic, Ollama)
    tools: list[Tool] = field(default_factory=list)
    tool_choice: str = "auto"  # auto | none | required | <tool name>
    max_tokens: int | None = None
    stop: list[str] = field(default_factory=list)
    json_mode: bool = False
    json_schema: dict[str, Any] | None = None
    reasoning: bool = False
    reasoning_tokens: int | None = None

    def last_user_text(self) -> str:
        for turn in reversed(self.turns):
            if turn.role == "user" and not turn.tool_result:
                return turn.text
        return ""

    def system_text(self) -> str:
        parts = [self.system] if self.system else []
        parts += [t.text for t in self.turns if t.role == "system" and t.text]
        return "\n".join(parts)

    def ends_with_tool_result(self) -> bool:
        return bool(self.turns) and self.turns[-1].tool_result

    def last_tool_result(self) -> str:
        for turn in reversed(self.turns):
            if turn.tool_result:
                return turn.text
        return ""


def prompt_tokens(chat: Chat) -> int:
    """Prompt tokens of a normalised request (see the package docstring for the rule)."""
    total = 0
    if chat.system:
        total += MESSAGE_OVERHEAD + count_tokens(chat.system)
    for turn in chat.turns:
        total += MESSAGE_OVERHEAD + count_tokens(turn.text) + IMAGE_TOKENS * turn.images
        for name, arguments in turn.tool_calls:
            total += count_tokens(name) + count_tokens(arguments)
    if chat.tools:
        total += count_tokens(tools_json(chat.tools))
    return total


def tools_json(tools: list[Tool]) -> str:
    return json.dumps(
        [{"name": t.name, "description": t.description, "parameters": t.schema} for t in tools],
        separators=(",", ":"),
        sort_keys=True,
    )


def text_of(content: Any) -> tuple[str, int]:
    """(text, image count) of an OpenAI / Anthropic style content value."""
    if content is None:
        return "", 0
    if isinstance(content, str):
        return content, 0
    if isinstance(content, dict):
        content = [content]
    if not isinstance(content, list):
        return str(content), 0
    texts: list[str] = []
    images = 0
    for part in content:
        if isinstance(part, str):
            texts.append(part)
            continue
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind in ("text", "input_text", "output_text"):
            texts.append(str(part.get("text") or ""))
        elif kind in ("image_url", "image", "input_image"):
            images += 1
        elif kind == "thinking":
            texts.append(str(part.get("thinking") or ""))
        elif kind == "tool_result":
            text, more = text_of(part.get("content"))
            texts.append(text)
            images += more
        elif kind == "document":
            source = part.get("source") or {}
            texts.append(str(source.get("data") or "") if source.get("type") == "text" else "")
        elif "text" in part:
            texts.append(str(part.get("text") or ""))
    return "\n".join(t for t in texts if t), images


# --------------------------------------------------------------------------- replies


@dataclass(slots=True)
class Reply:
    text: str = ""
    pieces: list[str] = field(default_factory=list)
    finish: str = "end"  # end | length | stop_sequence | tool
    stop_sequence: str | None = None
    tool_name: str | None = None
    tool_arguments: str = ""
    reasoning: str = ""
    reasoning_pieces: list[str] = field(default_factory=list)

    @property
    def reasoning_tokens(self) -> int:
        return count_tokens(self.reasoning)

    @property
    def completion_tokens(self) -> int:
        """Tokens of what was actually produced (reply text or tool call, plus reasoning)."""
        produced = self.reasoning_tokens
        if self.tool_name is not None:
            return produced + count_tokens(self.tool_name) + count_tokens(self.tool_arguments)
        return produced + count_tokens(self.text)

    def tool_input(self) -> Any:
        return json.loads(self.tool_arguments) if self.tool_arguments else {}

    def argument_pieces(self) -> list[str]:
        return group(token_pieces(self.tool_arguments), 4)


@lru_cache(maxsize=4096)
def words(seed: str, count: int) -> tuple[str, ...]:
    """``count`` words chosen deterministically from a hash of ``seed``."""
    out: list[str] = []
    block = 0
    while len(out) < count:
        digest = hashlib.blake2b(f"{block}\0{seed}".encode(), digest_size=64).digest()
        out.extend(WORDS[b & 63] for b in digest)
        block += 1
    return tuple(out[:count])


def sample_from_schema(schema: Any, depth: int = 0) -> Any:
    """A deterministic value for a JSON schema: string → "sample", number → 1, bool → true."""
    if not isinstance(schema, dict) or depth > 8:
        return "sample"
    if schema.get("enum"):
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        for key in ("anyOf", "oneOf", "allOf"):
            if schema.get(key):
                return sample_from_schema(schema[key][0], depth + 1)
        kind = "object" if "properties" in schema else "string"
    if kind == "object":
        props = schema.get("properties") or {}
        return {name: sample_from_schema(sub, depth + 1) for name, sub in props.items()}
    if kind == "array":
        items = schema.get("items")
        return [sample_from_schema(items, depth + 1)] if isinstance(items, dict) else []
    if kind in ("number", "integer"):
        return 1
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return "sample"


def _finish_text(full: str, max_tokens: int | None, stops: list[str]) -> Reply:
    cut = len(full)
    hit = None
    for stop in stops:
        if stop:
            at = full.find(stop)
            if at != -1 and at < cut:
                cut, hit = at, stop
    text = full[:cut]
    pieces = token_pieces(text)
    if max_tokens is not None and len(pieces) > max_tokens and count_tokens(text) > max_tokens:
        pieces = pieces[: max(max_tokens, 0)]
        return Reply(text="".join(pieces), pieces=pieces, finish="length")
    if hit is not None:
        return Reply(text=text, pieces=pieces, finish="stop_sequence", stop_sequence=hit)
    return Reply(text=text, pieces=pieces, finish="end")


def system_word(system: str) -> str | None:
    """The longest word of a system prompt (first one on ties): a generated reply starts with it."""
    found = re.findall(r"[^\W_]+", system or "")
    return max(found, key=len) if found else None


def reasoning_text(seed: str) -> str:
    return "Thinking it over: " + " ".join(words("reason\0" + seed, 8)) + "."


def make_reply(
    chat: Chat, directives: Directives, default_tokens: int = DEFAULT_REPLY_TOKENS
) -> Reply:
    """The deterministic reply to ``chat`` (tool call, JSON, tool echo or seeded words)."""
    seed = chat.last_user_text()
    reasoning = reasoning_text(seed) if chat.reasoning else ""
    wants_tool = (
        chat.tools
        and chat.tool_choice != "none"
        and not chat.ends_with_tool_result()
        and (directives.reply is None or chat.tool_choice != "auto")
    )
    if wants_tool:
        tool = next((t for t in chat.tools if t.name == chat.tool_choice), chat.tools[0])
        arguments = json.dumps(sample_from_schema(tool.schema or {"type": "object"}))
        reply = Reply(finish="tool", tool_name=tool.name, tool_arguments=arguments)
    else:
        length = directives.tokens if directives.tokens is not None else default_tokens
        if directives.reply is not None:
            full = directives.reply
        elif chat.ends_with_tool_result():
            full = "The tool returned: " + chat.last_tool_result()
        elif chat.json_mode:
            if chat.json_schema is not None:
                value = sample_from_schema(chat.json_schema)
                if not isinstance(value, dict):
                    value = {"value": value}
            else:
                value = {"reply": " ".join(words(seed, max(length - 5, 1)))}
            full = json.dumps(value)
        else:
            chosen = list(words(seed, max(length, 0)))
            marker = system_word(chat.system_text())
            if chosen and marker:
                chosen[0] = marker
            full = " ".join(chosen)
        reply = _finish_text(full, chat.max_tokens, chat.stop)
    if reasoning:
        reply.reasoning = reasoning
        reply.reasoning_pieces = token_pieces(reasoning)
    return reply


# --------------------------------------------------------------------------- embeddings


@lru_cache(maxsize=4096)
def embedding(text: str, dims: int = DEFAULT_EMBEDDING_DIMS) -> tuple[float, ...]:
    """A deterministic unit vector of ``dims`` floats derived from a hash of ``text``."""
    dims = max(int(dims), 1)
    raw = hashlib.shake_256(text.encode()).digest(2 * dims)
    values = [(v / 32767.5) - 1.0 for v in struct.unpack(f"<{dims}H", raw)]
    norm = sum(v * v for v in values) ** 0.5 or 1.0
    return tuple(round(v / norm, 7) for v in values)


def embedding_base64(vector: tuple[float, ...]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def embedding_inputs(value: Any) -> list[tuple[str, int]]:
    """(hash key, token count) for each input: a string, strings, token ids or lists of ids."""
    if isinstance(value, str):
        return [(value, count_tokens(value))]
    if isinstance(value, list):
        if value and all(isinstance(v, int) for v in value):
            return [(json.dumps(value), len(value))]
        out = []
        for item in value:
            if isinstance(item, str):
                out.append((item, count_tokens(item)))
            elif isinstance(item, list):
                out.append((json.dumps(item), len(item)))
            else:
                raise ValueError("input must be a string, an array of strings or token arrays")
        return out
    raise ValueError("input must be a string, an array of strings or token arrays")
