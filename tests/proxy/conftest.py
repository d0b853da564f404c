"""Gateway fixtures: fake upstreams (real HTTP servers), a catalog pointing at them, and SDK
clients talking to the gateway in-process through WSGI (same database transaction as the test)."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import httpx2
import openai
import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from bench.fake_upstream import FakeUpstream
from config.wsgi import application
from proxy.models import Deployment, Model, ModelKind, Upstream, UpstreamKind
from proxy.registry import registry


@pytest.fixture(scope="session")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as server:
        yield server


@pytest.fixture(scope="session")
def upstream_b() -> Iterator[FakeUpstream]:
    with FakeUpstream() as server:
        yield server


@pytest.fixture(autouse=True)
def _reset_upstreams(request: pytest.FixtureRequest) -> None:
    for name in ("upstream", "upstream_b"):
        if name in request.fixturenames:
            request.getfixturevalue(name).reset()


def add_upstream(
    server: FakeUpstream, name: str, kind: str = UpstreamKind.OLLAMA, **extra
) -> Upstream:
    return Upstream.objects.create(name=name, kind=kind, base_url=server.url, timeout=5, **extra)


def deploy(model: Model, upstream: Upstream, upstream_model: str, **extra) -> Deployment:
    deployment = Deployment.objects.create(
        model=model, upstream=upstream, upstream_model=upstream_model, **extra
    )
    registry.invalidate()
    return deployment


@pytest.fixture
def gateway(catalog, upstream: FakeUpstream) -> dict:
    """llama3.2 (chat, with aliases and a glob) and nomic-embed-text, served by `upstream`,
    in place of the default catalog's models (whose upstream is not running in tests)."""
    Model.objects.filter(workspace=None).delete()
    ollama = add_upstream(upstream, "fake-ollama")
    llama = Model.objects.create(
        name="llama3.2",
        aliases=["gpt-4o-mini", "claude-3-5-haiku*"],
        context_window=131072,
        input_price_per_mtok="0.05",
        output_price_per_mtok="0.10",
        capabilities=["tools", "vision", "json", "streaming"],
    )
    embed = Model.objects.create(
        name="nomic-embed-text", kind=ModelKind.EMBEDDING, aliases=["text-embedding-3-small"]
    )
    prefixed = Model.objects.create(name="anthropic/claude-haiku-4-5-20251001")
    deploy(llama, ollama, "llama3.2")
    deploy(embed, ollama, "nomic-embed-text")
    deploy(prefixed, ollama, "llama3.2")
    registry.invalidate()
    return {"upstream": ollama, "llama": llama, "embed": embed}


@pytest.fixture(autouse=True)
def _keep_the_test_connection() -> Iterator[None]:
    """Requests through the real WSGI handler start and end by closing old database
    connections, which would close the test's own transaction (PostgreSQL with a pool); Django's
    test client avoids it the same way."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


def wsgi_http_client() -> httpx2.Client:
    return httpx2.Client(
        transport=httpx2.WSGITransport(app=application), base_url="http://testserver"
    )


def sdk_client(kind: type, base_url: str, key) -> object:
    return kind(
        base_url=base_url, api_key=key.secret, http_client=wsgi_http_client(), max_retries=0
    )


@pytest.fixture
def openai_client(gateway, key_a) -> openai.OpenAI:
    return sdk_client(openai.OpenAI, "http://testserver/v1", key_a)


@pytest.fixture
def openai_client_api_v1(gateway, key_a) -> openai.OpenAI:
    return sdk_client(openai.OpenAI, "http://testserver/api/v1", key_a)


@pytest.fixture
def anthropic_client(gateway, key_a) -> anthropic.Anthropic:
    return sdk_client(anthropic.Anthropic, "http://testserver", key_a)


@pytest.fixture
def sonnet(gateway, upstream: FakeUpstream) -> Model:
    """`sonnet` (aliases claude-sonnet-4*): the fake's claude-sonnet-4-6 reached two ways, over
    Anthropic's API (an `anthropic` upstream, first choice, tier "fast") and over its OpenAI API
    (an `openai` upstream, the fallback, tier "slow"). `X-Tier` picks one deployment."""
    native = add_upstream(upstream, "fake-anthropic", UpstreamKind.ANTHROPIC)
    compatible = Upstream.objects.create(
        name="fake-openai", kind=UpstreamKind.OPENAI, base_url=f"{upstream.url}/v1", timeout=5
    )
    model = Model.objects.create(
        name="sonnet",
        aliases=["claude-sonnet-4*"],
        context_window=200000,
        capabilities=["tools", "vision", "reasoning", "streaming"],
    )
    deploy(model, native, "claude-sonnet-4-6", priority=0, tiers=["fast"])
    deploy(model, compatible, "claude-sonnet-4-6", priority=1, tiers=["slow"])
    return model


@pytest.fixture
def prepaid_key(gateway, catalog):
    """A key of a new workspace on the prepaid `payg` plan ($5 sign-up balance), with llama3.2
    priced at $1,000/$2,000 per million tokens so that every call costs visibly."""
    from accounts.services import create_workspace
    from billing.models import Plan
    from keys.services import issue_key

    from ..conftest import _user

    gateway["llama"].input_price_per_mtok = 1000
    gateway["llama"].output_price_per_mtok = 2000
    gateway["llama"].save()
    workspace = create_workspace("Payg", _user("p@payg.test"), Plan.objects.get(code="payg"))
    return issue_key(workspace, "payg")
