"""Gunicorn's access log without secrets (gunicorn.conf.py: `logger_class`).

A request line can carry a secret: `?api_key=sk-tg-…` (clients that cannot set headers), an
invitation link's token (`/invite/<token>/`), a password-reset link's token
(`/accounts/reset/<uid>/<token>/`). Gunicorn writes the raw line, the path, the query string and
the Referer (which repeats such a URL) to the access log; this logger replaces those secrets
with `[redacted]` before any format uses them, and drops headers that carry credentials.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from gunicorn.glogging import Logger

from .logs import _KEY_PATTERNS, REDACTED, redact_token_paths

SECRET_PARAMETERS = frozenset(
    {
        "api_key",
        "apikey",
        "api-key",
        "key",
        "token",
        "access_token",
        "auth",
        "code",
        "secret",
        "password",
        "sig",
        "signature",
        "authorization",
        "x-api-key",
        "client_secret",
        "refresh_token",
    }
)
# Gunicorn's {name}e (environ) and {name}o (response header) atoms whose name holds one of these
# may carry a credential or a query string: they keep their presence, not their value.
SECRET_ATOM_WORDS = ("auth", "cookie", "key", "token", "query")
SECRET_HEADERS = frozenset({"authorization", "x-api-key", "api-key", "x-goog-api-key", "cookie"})


def redact_path(path: str) -> str:
    return redact_token_paths(path)


def redact_query(query: str) -> str:
    """Each `name=value` whose name is a secret's, or whose value looks like a key, redacted."""
    if not query:
        return query
    pairs = []
    for pair in query.split("&"):
        name, sep, value = pair.partition("=")
        if sep and value and is_secret_parameter(name, value):
            value = REDACTED
        pairs.append(f"{name}{sep}{value}")
    return "&".join(pairs)


def is_secret_parameter(name: str, value: str) -> bool:
    """A parameter named as a secret's, or whose value looks like a key, once percent-decoded."""
    return (
        unquote_plus(name).strip().lower() in SECRET_PARAMETERS
        or _KEY_PATTERNS.search(unquote_plus(value)) is not None
    )


def is_secret_atom(name: str) -> bool:
    """`{…}e` and `{…}o` atoms whose lower-cased name says they may carry a credential."""
    if not (name.startswith("{") and name[-2:] in ("}e", "}o")):
        return False
    inner = name[1:-2].lower()
    return any(word in inner for word in SECRET_ATOM_WORDS)


def redact_target(target: str) -> str:
    """A request target or URL (path and query) without its secrets."""
    if not target or target == "-":
        return target
    path, sep, query = target.partition("?")
    return redact_path(path) + sep + redact_query(query)


class RedactingLogger(Logger):
    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> Any:
        atoms = super().atoms(resp, req, environ, request_time)
        method, protocol = environ.get("REQUEST_METHOD", "-"), environ.get("SERVER_PROTOCOL", "-")
        atoms["r"] = f"{method} {redact_target(environ.get('RAW_URI', ''))} {protocol}"
        atoms["U"] = redact_path(atoms.get("U") or "")
        atoms["q"] = redact_query(atoms.get("q") or "")
        atoms["f"] = redact_target(atoms.get("f") or "-")
        for name in list(atoms):
            if name.startswith("{") and name.endswith("}i"):
                if name[1:-2] in SECRET_HEADERS:
                    atoms[name] = REDACTED
                elif name == "{referer}i":
                    atoms[name] = redact_target(atoms[name])
            elif is_secret_atom(name):
                atoms[name] = REDACTED
            elif name in ("{raw_uri}e", "{request_uri}e", "{http_referer}e"):
                atoms[name] = redact_target(str(atoms[name]))
            elif name == "{path_info}e":
                atoms[name] = redact_path(str(atoms[name]))
        return atoms
