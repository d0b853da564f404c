from __future__ import annotations

from io import StringIO

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from billing.catalog import CatalogInvalid, apply
from proxy.credentials import reveal
from proxy.models import Deployment, Model, Upstream
from proxy.registry import registry

from .conftest import add_upstream


def catalog_doc(base_url: str, **model_extra) -> dict:
    return {
        "upstreams": [
            {
                "name": "box",
                "kind": "openai",
                "base_url": base_url,
                "api_keys": ["sk-plain", "env:BOX_KEY"],
            }
        ],
        "models": [
            {
                "name": "box-chat",
                "aliases": ["claude-3-opus*", "gpt-4"],
                "context_window": 32000,
                "price": {"input_per_mtok": 0.5, "output_per_mtok": 1.5},
                "quota_weight": {"offpeak": 2, "peak": 3},
                "deployments": [
                    {"upstream": "box", "model": "real-name", "weight": 3, "tiers": ["fast"]}
                ],
                **model_extra,
            }
        ],
    }


def test_it_loads_upstreams_and_models_from_the_catalog(db) -> None:
    changes = apply(catalog_doc("https://box.example/v1"))
    assert "upstream box: created" in changes and "model box-chat: created" in changes
    upstream = Upstream.objects.get(name="box")
    assert upstream.api_keys[0].startswith("enc:") and "sk-plain" not in upstream.api_keys[0]
    assert reveal(upstream.api_keys[0]) == "sk-plain"
    assert upstream.api_keys[1] == "env:BOX_KEY"
    model = Model.objects.get(name="box-chat")
    assert (model.quota_weight_offpeak, model.quota_weight_peak) == (2, 3)
    deployment = Deployment.objects.get()
    assert (deployment.upstream_model, deployment.weight, deployment.tiers) == (
        "real-name",
        3,
        ["fast"],
    )
    assert apply(catalog_doc("https://box.example/v1")) == []  # idempotent, keys included
    snapshot = registry.snapshot()
    assert snapshot.resolve("claude-3-opus-20240229", None).name == "box-chat"
    assert snapshot.resolve("gpt-4", None).name == "box-chat"
    assert snapshot.resolve("gpt-4o", None) is None


def test_it_names_catalog_faults_in_the_proxy_sections(db) -> None:
    document = catalog_doc("ftp://box", price={"input_per_mtok": -1})
    document["upstreams"][0]["kind"] = "bedrock"
    document["models"][0]["deployments"][0]["weight"] = 0
    with pytest.raises(CatalogInvalid) as caught:
        apply(document)
    assert set(caught.value.faults) == {
        "upstreams[0].kind: must be one of ollama, openai, anthropic",
        "upstreams[0].base_url: must be an http:// or https:// URL",
        "models[0].price.input_per_mtok: must be a number of 0 or more",
        "models[0].deployments[0].weight: must be a positive integer",
    }
    assert not Upstream.objects.exists()


def test_it_refuses_a_deployment_on_an_unknown_upstream(db) -> None:
    document = catalog_doc("https://box.example/v1")
    document["models"][0]["deployments"][0]["upstream"] = "nowhere"
    with pytest.raises(CatalogInvalid) as caught:
        apply(document)
    assert caught.value.faults == ["models[0].deployments[0].upstream: no upstream named 'nowhere'"]
    assert not Upstream.objects.exists() and not Model.objects.exists()  # nothing half-applied


def test_it_expands_environment_references(db, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BOX_URL", "http://10.0.0.5:11434")
    path = tmp_path / "c.yaml"
    path.write_text(
        yaml.safe_dump(
            {"upstreams": [{"name": "a", "kind": "ollama", "base_url": "${BOX_URL:-http://x}"},
                           {"name": "b", "kind": "ollama", "base_url": "${NO_SUCH_VAR:-http://fallback:1}"}]}
        )
    )  # fmt: skip
    call_command("apply_catalog", str(path), stdout=StringIO())
    assert Upstream.objects.get(name="a").base_url == "http://10.0.0.5:11434"
    assert Upstream.objects.get(name="b").base_url == "http://fallback:1"


def test_it_imports_the_models_of_an_ollama_upstream(db, upstream) -> None:
    add_upstream(upstream, "home")
    out = StringIO()
    call_command("import_ollama_models", "--upstream", "home", stdout=out)
    assert "model llama3.2: added" in out.getvalue()
    assert Model.objects.get(name="nomic-embed-text").kind == "embedding"
    deployment = Deployment.objects.get(upstream__name="home", model__name="llama3.2")
    assert deployment.upstream_model == "llama3.2:latest"  # Ollama's tag; the public name drops it
    again = StringIO()
    call_command("import_ollama_models", "--upstream", "home", stdout=again)
    assert again.getvalue().strip().endswith("0 model(s) added")


def test_it_reports_an_unreachable_ollama(db) -> None:
    Upstream.objects.create(name="gone", kind="ollama", base_url="http://127.0.0.1:1", timeout=1)
    with pytest.raises(CommandError, match="cannot list models"):
        call_command("import_ollama_models", "--upstream", "gone")
    with pytest.raises(CommandError, match="no upstream named"):
        call_command("import_ollama_models", "--upstream", "nope")
