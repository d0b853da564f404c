"""GET/PUT/DELETE /api/v1/local/connection: a workspace's own Ollama (scope local_model_access),
its `local/*` models, chat through it, and the SSRF guard (proxy.egress) with the address pin.

The fake upstreams listen on 127.0.0.1, so the positive paths allow that address the way an
operator would (LOCAL_UPSTREAM_ALLOWED_CIDRS). Name resolution is faked at the system resolver
(`socket.getaddrinfo`), never inside our code."""

from __future__ import annotations

import datetime
import http.server
import json
import socket
import ssl
import threading
from collections.abc import Iterator

import pytest

from accounts.services import create_workspace
from billing.models import Plan
from keys.services import issue_key
from proxy.credentials import reveal
from proxy.models import Deployment, Model, Upstream
from proxy.providers import base as providers

from ..conftest import _user

URL = "/api/v1/local/connection"
CUSTOMER_HOST = "ollama.customer.example"


# --- fixtures and helpers -----------------------------------------------------------------------


@pytest.fixture
def local_workspace(catalog):
    plan = Plan.objects.get(code="local_agent_train")
    return create_workspace("Homelab", _user("owner@homelab.test"), plan)


@pytest.fixture
def local_key(local_workspace):
    return issue_key(local_workspace, "homelab")


@pytest.fixture
def chat_only_key(local_workspace):
    return issue_key(local_workspace, "chat only", scopes=["chat"])


@pytest.fixture
def loopback_allowed(settings) -> None:
    settings.LOCAL_UPSTREAM_ALLOWED_CIDRS = ["127.0.0.1/32"]


@pytest.fixture
def resolver(monkeypatch) -> dict:
    """The system resolver, with some names answered by the test: {name: address}. Lookups of
    those names are counted in `resolver["asked"]`."""
    real = socket.getaddrinfo
    table: dict = {"answers": {}, "asked": []}

    def getaddrinfo(host, port, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name in table["answers"]:
            table["asked"].append(name)
            return real(table["answers"][name], port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


def put(client, key, body: dict):
    return client.put(URL, data=json.dumps(body), content_type="application/json", **auth(key))


def connect(client, key, body: dict) -> dict:
    response = put(client, key, body)
    assert response.status_code == 200, response.content
    return response.json()


def auth(key) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {key.secret}"}


def chat(client, key, model: str = "local/llama3.2", text: str = "hello"):
    body = {"model": model, "messages": [{"role": "user", "content": text}]}
    return client.post(
        "/api/v1/chat", data=json.dumps(body), content_type="application/json", **auth(key)
    )


def model_ids(client, key) -> list[str]:
    response = client.get("/api/v1/models", **auth(key))
    assert response.status_code == 200
    return [m["id"] for m in response.json()["data"]]


def error_of(response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def port_of(server) -> int:
    return int(server.url.rsplit(":", 1)[1])


def nothing_stored() -> bool:
    return not Upstream.objects.filter(workspace__isnull=False).exists() and not (
        Model.objects.filter(name__startswith="local/").exists()
    )


# --- connect, list, chat ------------------------------------------------------------------------


def test_it_connects_and_lists_the_servers_models_for_that_workspace_only(
    client, loopback_allowed, local_key, key_b, upstream_b
) -> None:
    response = put(client, local_key, {"base_url": upstream_b.url + "/", "api_key": "sk-own-1"})

    assert response.status_code == 200, response.content
    data = response.json()
    assert data["base_url"] == upstream_b.url
    assert (data["address"], data["has_api_key"], data["active"]) == ("127.0.0.1", True, True)
    assert data["verified_at"]
    assert "sk-own-1" not in response.content.decode()
    models = {m["id"]: m for m in data["models"]}
    assert models["local/llama3.2"] == {
        "id": "local/llama3.2",
        "upstream_model": "llama3.2:latest",
        "kind": "chat",
    }
    assert models["local/qwen2.5:7b"]["upstream_model"] == "qwen2.5:7b"
    assert models["local/nomic-embed-text"]["kind"] == "embedding"
    (check,) = upstream_b.requests
    assert (check["method"], check["path"]) == ("GET", "/api/tags")
    assert check["headers"]["authorization"] == "Bearer sk-own-1"

    listed = model_ids(client, local_key)
    assert "local/llama3.2" in listed
    assert all(name.startswith("local/") for name in listed)  # the plan: your Ollama only
    assert not any(name.startswith("local/") for name in model_ids(client, key_b))

    shown = client.get(URL, **auth(local_key))
    assert shown.status_code == 200
    assert shown.json() == data


def test_it_chats_with_a_local_model_on_the_customers_server_with_their_key(
    client, loopback_allowed, local_key, key_b, upstream, upstream_b
) -> None:
    connect(client, local_key, {"base_url": upstream_b.url, "api_key": "sk-own-2"})
    upstream_b.clear()

    response = chat(client, local_key, text="hi [[reply:from my own box]]")

    assert response.status_code == 200, response.content
    assert response.json()["choices"][0]["message"]["content"] == "from my own box"
    assert response.json()["model"] == "local/llama3.2"
    (call,) = upstream_b.requests
    assert (call["path"], call["model"]) == ("/v1/chat/completions", "llama3.2:latest")
    assert call["headers"]["authorization"] == "Bearer sk-own-2"
    assert call["headers"]["host"] == upstream_b.url.removeprefix("http://")
    assert upstream.requests == []  # not the operator's server

    assert error_of(chat(client, key_b)) == (404, "model_not_found")
    assert error_of(client.get("/api/v1/models/local/llama3.2", **auth(key_b))) == (
        404,
        "model_not_found",
    )


def test_it_keeps_the_plan_to_the_workspaces_own_models(
    client, gateway, loopback_allowed, local_key, upstream_b
) -> None:
    """local_agent_train is "your Ollama only": the operator's models are not in it."""
    connect(client, local_key, {"base_url": upstream_b.url})

    assert error_of(chat(client, local_key, model="llama3.2")) == (403, "model_not_allowed")
    assert chat(client, local_key).status_code == 200


def test_it_wants_the_local_model_access_scope(
    client, loopback_allowed, local_key, chat_only_key, upstream_b
) -> None:
    assert error_of(put(client, chat_only_key, {"base_url": upstream_b.url})) == (
        403,
        "insufficient_scope",
    )
    assert error_of(client.get(URL, **auth(chat_only_key))) == (403, "insufficient_scope")
    assert error_of(client.delete(URL, **auth(chat_only_key))) == (403, "insufficient_scope")
    assert nothing_stored()

    connect(client, local_key, {"base_url": upstream_b.url})
    assert error_of(chat(client, chat_only_key)) == (403, "insufficient_scope")
    assert "local/llama3.2" not in model_ids(client, chat_only_key)


def test_it_answers_404_without_a_connection_and_401_without_a_key(client, local_key) -> None:
    assert error_of(client.get(URL, **auth(local_key))) == (404, "no_local_connection")
    assert error_of(client.delete(URL, **auth(local_key))) == (404, "no_local_connection")
    assert error_of(client.get(URL)) == (401, "invalid_api_key")


def test_it_replaces_the_connection_on_a_second_put_and_keeps_fine_tunes(
    client, loopback_allowed, local_key, local_workspace, upstream, upstream_b
) -> None:
    upstream_b.configure(models=["phi3"])
    connect(client, local_key, {"base_url": upstream_b.url, "api_key": "sk-old"})
    connection = Upstream.objects.get(workspace=local_workspace)
    tuned = Model.objects.create(workspace=local_workspace, name="my-tuned")
    Deployment.objects.create(model=tuned, upstream=connection, upstream_model="ws-my-tuned")
    assert "local/phi3" in model_ids(client, local_key)

    response = put(client, local_key, {"base_url": upstream.url})

    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["base_url"], data["has_api_key"]) == (upstream.url, False)
    assert "local/phi3" not in {m["id"] for m in data["models"]}
    assert Upstream.objects.get(workspace=local_workspace).pk == connection.pk
    assert Upstream.objects.get(pk=connection.pk).api_keys == []
    assert tuned.deployments.get().upstream_id == connection.pk  # the fine-tune is left alone
    listed = model_ids(client, local_key)
    assert "local/phi3" not in listed and {"local/llama3.2", "my-tuned"} <= set(listed)
    upstream.clear()
    assert chat(client, local_key).status_code == 200
    assert [r["path"] for r in upstream.requests] == ["/v1/chat/completions"]


def test_it_deletes_the_connection_its_models_and_the_deployments_on_it(
    client, loopback_allowed, local_key, local_workspace, upstream_b
) -> None:
    connect(client, local_key, {"base_url": upstream_b.url})
    connection = Upstream.objects.get(workspace=local_workspace)
    tuned = Model.objects.create(workspace=local_workspace, name="my-tuned")
    Deployment.objects.create(model=tuned, upstream=connection, upstream_model="ws-my-tuned")

    response = client.delete(URL, **auth(local_key))

    assert response.status_code == 204
    assert nothing_stored()
    assert not tuned.deployments.exists()
    assert error_of(client.get(URL, **auth(local_key))) == (404, "no_local_connection")
    assert error_of(chat(client, local_key)) == (404, "model_not_found")
    assert error_of(chat(client, local_key, model="my-tuned")) == (503, "upstream_unavailable")


# --- the customer's key -------------------------------------------------------------------------


def test_it_stores_the_key_encrypted_and_never_reads_an_env_reference(
    client, loopback_allowed, local_key, local_workspace, upstream_b, monkeypatch
) -> None:
    monkeypatch.setenv("TOLLGATE_TEST_OPERATOR_SECRET", "operator-only-value")
    sent = "env:TOLLGATE_TEST_OPERATOR_SECRET"

    response = put(client, local_key, {"base_url": upstream_b.url, "api_key": sent})
    assert response.status_code == 200, response.content
    assert chat(client, local_key).status_code == 200

    (stored,) = Upstream.objects.get(workspace=local_workspace).api_keys
    assert stored.startswith("enc:") and "TOLLGATE" not in stored
    assert reveal(stored) == sent
    seen = [r["headers"].get("authorization") for r in upstream_b.requests]
    assert seen == [f"Bearer {sent}", f"Bearer {sent}"]
    for page in (response, client.get(URL, **auth(local_key))):
        assert sent not in page.content.decode()
        assert "operator-only-value" not in page.content.decode()


@pytest.mark.parametrize("api_key", [42, "two words", "x" * 1001])
def test_it_refuses_an_api_key_that_is_not_a_header_value(
    client, loopback_allowed, local_key, upstream_b, api_key
) -> None:
    response = put(client, local_key, {"base_url": upstream_b.url, "api_key": api_key})
    assert error_of(response) == (400, "invalid_request_error")
    assert response.json()["error"]["param"] == "api_key"
    assert nothing_stored() and upstream_b.requests == []


# --- the SSRF guard -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "base_url",
    [
        "http://169.254.169.254",
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:127.0.0.1]:{port}",
        "http://[::ffff:7f00:1]:{port}",
        "http://0x7f000001:{port}",
        "http://2130706433:{port}",
        "http://127.1:{port}",
        "http://127.0.0.1:{port}",
        "http://localhost:{port}",
        "http://[::1]:{port}",
        "http://0.0.0.0:{port}",
        "http://10.0.0.1:11434",
        "http://192.168.1.10:11434",
        "http://100.64.0.1:11434",
        "http://[fe80::1]:11434",
        "http://[fd00:ec2::254]",
        "http://[2002:7f00:1::]:11434",
        "http://[64:ff9b::a00:1]:11434",
    ],
)
def test_it_refuses_addresses_that_are_not_public(client, local_key, upstream_b, base_url) -> None:
    response = put(client, local_key, {"base_url": base_url.format(port=port_of(upstream_b))})

    assert error_of(response) == (400, "address_not_allowed"), response.content
    assert response.json()["error"]["param"] == "base_url"
    assert nothing_stored() and upstream_b.requests == []


def test_it_refuses_a_name_that_resolves_to_a_private_address(client, local_key, resolver) -> None:
    resolver["answers"]["ollama.corp.example"] = "10.1.2.3"

    response = put(client, local_key, {"base_url": "http://ollama.corp.example:11434"})

    assert error_of(response) == (400, "address_not_allowed")
    assert "10.1.2.3" not in response.json()["error"]["message"]  # no map of internal names
    assert resolver["asked"] == ["ollama.corp.example"]
    assert nothing_stored()


def test_it_refuses_metadata_addresses_even_inside_an_allowed_range(
    client, local_key, settings
) -> None:
    settings.LOCAL_UPSTREAM_ALLOWED_CIDRS = ["169.254.0.0/16", "0.0.0.0/0"]

    for base_url in ("http://169.254.169.254", "http://0.0.0.0:11434"):
        assert error_of(put(client, local_key, {"base_url": base_url})) == (
            400,
            "address_not_allowed",
        )


@pytest.mark.parametrize(
    ("base_url", "says"),
    [
        ("ftp://ollama.example.com", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("gopher://ollama.example.com:70", "only http and https"),
        ("ollama.example.com:11434", "only http and https"),
        ("http://user:pass@ollama.example.com", "credentials"),
        ("http://token@ollama.example.com", "credentials"),
        ("http://ollama.example.com/?next=http://10.0.0.1", "query"),
        ("http://ollama.example.com/#x", "fragment"),
        ("http://ollama.example.com:99999", "port"),
        ("http://ollama.example.com:0", "port"),
        ("http://", "no host"),
        ("http://ollama example.com", "spaces"),
        ("http://ollama.example.com\\@10.0.0.1", "backslash"),
        ("http://exa%6dple.com", "not a valid host name"),
        ("", "expected a URL"),
        (None, "expected a URL"),
        ("http://" + "a" * 300 + ".com", "at most 300"),
    ],
)
def test_it_refuses_urls_that_are_not_plain_http_or_https(
    client, local_key, base_url, says
) -> None:
    response = put(client, local_key, {"base_url": base_url})

    assert error_of(response) == (400, "invalid_base_url"), response.content
    assert says in response.json()["error"]["message"]
    assert nothing_stored()


def test_it_refuses_unknown_fields(client, local_key, upstream_b) -> None:
    response = put(client, local_key, {"base_url": upstream_b.url, "url": "x"})
    assert error_of(response) == (400, "invalid_request_error")


class _Redirector(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.seen.append(self.path)  # type: ignore[attr-defined]
        self.send_response(302)
        self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


class _Endless(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.seen.append(self.path)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        try:
            for _ in range(64):  # 4 MiB, more than a list of models may be
                self.wfile.write(b" " * 65536)
        except OSError:  # the gateway hung up, as it should
            pass

    def log_message(self, *args) -> None:
        pass


def serve(handler: type) -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def redirector() -> Iterator[http.server.ThreadingHTTPServer]:
    yield from serve(_Redirector)


@pytest.fixture
def endless() -> Iterator[http.server.ThreadingHTTPServer]:
    yield from serve(_Endless)


def test_it_does_not_follow_a_redirect(client, loopback_allowed, local_key, redirector) -> None:
    base_url = f"http://127.0.0.1:{redirector.server_address[1]}"

    response = put(client, local_key, {"base_url": base_url})

    assert error_of(response) == (400, "redirect_not_allowed"), response.content
    assert "302" in response.json()["error"]["message"]
    assert redirector.seen == ["/api/tags"]
    assert nothing_stored()


# --- the pin ------------------------------------------------------------------------------------


def test_it_keeps_calling_the_pinned_address_when_the_name_resolves_elsewhere(
    client, loopback_allowed, local_key, upstream_b, resolver
) -> None:
    """DNS rebinding: checked once at 127.0.0.1 (allowed here), the name later answers a
    metadata address; calls still go to the pinned address and never resolve the name."""
    resolver["answers"][CUSTOMER_HOST] = "127.0.0.1"
    base_url = f"http://{CUSTOMER_HOST}:{port_of(upstream_b)}"
    response = put(client, local_key, {"base_url": base_url})
    assert response.status_code == 200, response.content
    assert response.json()["address"] == "127.0.0.1"
    assert resolver["asked"] == [CUSTOMER_HOST]

    resolver["answers"][CUSTOMER_HOST] = "169.254.169.254"
    upstream_b.clear()
    for _ in range(2):
        assert chat(client, local_key).status_code == 200

    assert resolver["asked"] == [CUSTOMER_HOST]  # never resolved again
    assert [r["headers"]["host"] for r in upstream_b.requests] == [
        f"{CUSTOMER_HOST}:{port_of(upstream_b)}"
    ] * 2


def test_it_reports_a_server_that_does_not_answer_and_keeps_the_old_connection(
    client, loopback_allowed, local_key, upstream_b
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]

    response = put(client, local_key, {"base_url": f"http://127.0.0.1:{closed}"})
    assert error_of(response) == (400, "connection_failed")
    assert "connection refused" in response.json()["error"]["message"]
    assert nothing_stored()

    connect(client, local_key, {"base_url": upstream_b.url})
    upstream_b.configure(require_keys=["sk-right"])
    response = put(client, local_key, {"base_url": upstream_b.url, "api_key": "sk-wrong"})
    assert error_of(response) == (400, "connection_failed")
    assert "api_key" in response.json()["error"]["message"]
    shown = client.get(URL, **auth(local_key)).json()
    assert (shown["base_url"], shown["has_api_key"]) == (upstream_b.url, False)


def test_it_reports_a_server_that_is_not_ollama(
    client, loopback_allowed, local_key, upstream_b, endless
) -> None:
    upstream_b.configure(status=500)
    response = put(client, local_key, {"base_url": upstream_b.url})
    assert error_of(response) == (400, "connection_failed")
    assert "500" in response.json()["error"]["message"]

    response = put(client, local_key, {"base_url": f"http://127.0.0.1:{endless.server_address[1]}"})
    assert error_of(response) == (400, "connection_failed")
    assert "more than 2097152 bytes" in response.json()["error"]["message"]
    assert nothing_stored()


# --- https: the pinned address, with the customer's name for SNI and the certificate ------------


def _certificate(tmp_path, name: str) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)


class _TagsOverTls(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.hosts.append(self.headers.get("Host"))  # type: ignore[attr-defined]
        body = json.dumps({"models": [{"name": "llama3.2:latest"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def tls_server(tmp_path) -> Iterator[http.server.ThreadingHTTPServer]:
    """An https server on 127.0.0.1 whose certificate names CUSTOMER_HOST; records SNI."""
    cert_file, key_file = _certificate(tmp_path, CUSTOMER_HOST)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TagsOverTls)
    server.hosts, server.sni, server.cert_file = [], [], cert_file  # type: ignore[attr-defined]
    context.sni_callback = lambda sock, name, ctx: server.sni.append(name)  # type: ignore[attr-defined]
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_it_speaks_tls_to_the_pinned_address_in_the_customers_name(
    client, loopback_allowed, local_key, resolver, tls_server, monkeypatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", tls_server.cert_file)  # trust the test certificate
    resolver["answers"][CUSTOMER_HOST] = "127.0.0.1"
    resolver["answers"]["other.customer.example"] = "127.0.0.1"
    port = tls_server.server_address[1]

    response = put(client, local_key, {"base_url": f"https://{CUSTOMER_HOST}:{port}"})

    assert response.status_code == 200, response.content
    assert [m["id"] for m in response.json()["models"]] == ["local/llama3.2"]
    assert tls_server.sni == [CUSTOMER_HOST]
    assert tls_server.hosts == [f"{CUSTOMER_HOST}:{port}"]

    # The same server under a name its certificate does not carry: refused, nothing sent.
    Upstream.objects.all().delete()
    response = put(client, local_key, {"base_url": f"https://other.customer.example:{port}"})
    assert error_of(response) == (400, "connection_failed")
    assert "TLS" in response.json()["error"]["message"]
    assert tls_server.hosts == [f"{CUSTOMER_HOST}:{port}"]


def test_it_never_resolves_a_pinned_name_it_has_no_pin_for() -> None:
    """A pinned upstream's calls use a `.invalid` name only the pin table knows: without its
    pin (the upstream was removed meanwhile) a call fails instead of resolving anything."""
    name = f"upstream-999999{providers.PINNED_HOST_SUFFIX}"
    with pytest.raises(providers.PinMissing):
        providers.http().request("GET", f"http://{name}:11434/api/tags")


def test_it_is_in_the_openapi_document(client, db) -> None:
    paths = client.get("/api/v1/schema").json()["paths"]
    operations = paths["/api/v1/local/connection"]
    assert set(operations) >= {"get", "put", "delete"}
    assert "application/json" in operations["put"]["requestBody"]["content"]
    assert {"400", "403", "404"} <= set(operations["put"]["responses"]) | set(
        operations["get"]["responses"]
    )


def test_it_rechecks_the_pinned_address_on_every_call_when_the_allowed_networks_shrink(
    client, settings, loopback_allowed, local_key, upstream_b
) -> None:
    connect(client, local_key, {"base_url": upstream_b.url})
    assert chat(client, local_key).status_code == 200
    upstream_b.clear()

    settings.LOCAL_UPSTREAM_ALLOWED_CIDRS = ["10.20.0.0/16"]  # the operator tightened them
    response = chat(client, local_key)

    assert error_of(response) == (403, "address_not_allowed"), response.content
    assert "127.0.0.1" in response.json()["error"]["message"]
    assert upstream_b.requests == []  # never reached
    settings.LOCAL_UPSTREAM_ALLOWED_CIDRS = ["127.0.0.1/32"]
    assert chat(client, local_key).status_code == 200
