"""The `upstreams` and `models` sections of the catalog file."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from billing.catalog import (
    CatalogInvalid,
    Fault,
    Field,
    Section,
    boolean,
    check_record,
    list_of,
    model_values,
    money,
    non_negative_int,
    positive_int,
    register_section,
    slug,
    text,
    upsert,
    validate_list,
)
from billing.models import TIERS

from .credentials import seal
from .models import CAPABILITIES, Deployment, Model, ModelKind, Upstream, UpstreamKind


def choice(options: tuple[str, ...]) -> Any:
    def run(value: Any) -> str:
        if value not in options:
            raise Fault(f"must be one of {', '.join(options)}")
        return value

    return run


def url(value: Any) -> str:
    value = text(300)(value)
    if not value.startswith(("http://", "https://")):
        raise Fault("must be an http:// or https:// URL")
    return value.rstrip("/")


def seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise Fault("must be a positive number of seconds")
    return float(value)


def sub_record(schema: dict[str, Field]) -> Any:
    """A nested mapping checked field by field; faults keep their inner path."""

    def run(value: Any) -> dict:
        faults: list[str] = []
        clean = check_record(value, schema, "", faults)
        if faults:
            path, _, message = faults[0].partition(": ")
            raise Fault(message, path)
        return clean

    return run


UPSTREAM_SCHEMA: dict[str, Field] = {
    "name": Field(slug(60), required=True),
    "kind": Field(choice(tuple(UpstreamKind.values)), required=True),
    "base_url": Field(url, required=True),
    "api_keys": Field(list_of(text(500)), default=list),
    "timeout": Field(seconds, default=120.0),
    "active": Field(boolean, default=True, attr="is_active"),
    # An OpenAI-compatible upstream with its own Responses API: /v1/responses calls are sent to
    # it natively (model renamed) instead of being bridged through chat completions.
    "responses": Field(boolean, default=False, attr="serves_responses"),
}

PRICE_SCHEMA = {
    "input_per_mtok": Field(money, default=lambda: Decimal("0")),
    "output_per_mtok": Field(money, default=lambda: Decimal("0")),
}
WEIGHT_SCHEMA = {"offpeak": Field(positive_int, default=1), "peak": Field(positive_int, default=1)}
DEPLOYMENT_SCHEMA: dict[str, Field] = {
    "upstream": Field(slug(60), required=True),
    "model": Field(text(200), required=True),
    "weight": Field(positive_int, default=1),
    "priority": Field(non_negative_int, default=0),
    "tiers": Field(list_of(text(20), choices=TIERS), default=list),
    "active": Field(boolean, default=True),
}
MODEL_SCHEMA: dict[str, Field] = {
    "name": Field(text(200), required=True),
    "aliases": Field(list_of(text(200)), default=list),
    "kind": Field(choice(tuple(ModelKind.values)), default=ModelKind.CHAT.value),
    "description": Field(text(300, required=False), default=""),
    "context_window": Field(positive_int, default=8192),
    "price": Field(sub_record(PRICE_SCHEMA), default=lambda: sub_record(PRICE_SCHEMA)({})),
    "quota_weight": Field(sub_record(WEIGHT_SCHEMA), default=lambda: sub_record(WEIGHT_SCHEMA)({})),
    "capabilities": Field(list_of(text(20), choices=CAPABILITIES), default=list),
    "deployments": Field(list_of(sub_record(DEPLOYMENT_SCHEMA)), default=list),
    "active": Field(boolean, default=True, attr="is_active"),
}


def _apply_upstreams(upstreams: list[dict], prune: bool) -> list[str]:
    changes = []
    for record in upstreams:
        values = model_values(record, UPSTREAM_SCHEMA, skip=("name",))
        values["api_keys"] = [seal(key) for key in record["api_keys"]]
        existing = Upstream.objects.filter(name=record["name"], workspace=None).first()
        if existing and _same_keys(existing.api_keys, record["api_keys"]):
            values["api_keys"] = existing.api_keys  # re-encrypting would report a false change
        lookup = {"name": record["name"], "workspace": None}
        if line := upsert(
            Upstream, lookup, values, f"upstream {record['name']}", secret={"api_keys"}
        ):
            changes.append(line)
    if prune:
        stale = Upstream.objects.filter(workspace=None).exclude(
            name__in=[u["name"] for u in upstreams]
        )
        changes += [f"upstream {name}: removed" for name in stale.values_list("name", flat=True)]
        stale.delete()
    return changes


def _same_keys(stored: list[str], typed: list[str]) -> bool:
    from .credentials import CredentialError, reveal

    if len(stored) != len(typed):
        return False
    try:
        return all(
            s == t if t.startswith(("env:", "enc:")) else reveal(s) == t
            for s, t in zip(stored, typed, strict=True)
        )
    except CredentialError:
        return False


def _apply_models(models: list[dict], prune: bool) -> list[str]:
    upstreams = {u.name: u for u in Upstream.objects.filter(workspace=None)}
    missing = [
        f"models[{i}].deployments[{j}].upstream: no upstream named {d['upstream']!r}"
        for i, record in enumerate(models)
        for j, d in enumerate(record["deployments"])
        if d["upstream"] not in upstreams
    ]
    if missing:
        raise CatalogInvalid(missing)
    changes = []
    for record in models:
        values = model_values(
            record, MODEL_SCHEMA, skip=("name", "price", "quota_weight", "deployments")
        )
        values.update(
            input_price_per_mtok=record["price"]["input_per_mtok"],
            output_price_per_mtok=record["price"]["output_per_mtok"],
            quota_weight_offpeak=record["quota_weight"]["offpeak"],
            quota_weight_peak=record["quota_weight"]["peak"],
        )
        line = upsert(
            Model, {"name": record["name"], "workspace": None}, values, f"model {record['name']}"
        )
        if line:
            changes.append(line)
        changes += _apply_deployments(record, upstreams)
    if prune:
        stale = Model.objects.filter(workspace=None).exclude(name__in=[m["name"] for m in models])
        changes += [f"model {name}: removed" for name in stale.values_list("name", flat=True)]
        stale.delete()
    return changes


def _apply_deployments(record: dict, upstreams: dict[str, Upstream]) -> list[str]:
    """A model's deployments are exactly those listed for it."""
    model = Model.objects.get(name=record["name"], workspace=None)
    changes, kept = [], []
    for item in record["deployments"]:
        upstream = upstreams[item["upstream"]]
        label = f"deployment {model.name} → {upstream.name}/{item['model']}"
        lookup = {"model": model, "upstream": upstream, "upstream_model": item["model"]}
        values = {
            "weight": item["weight"],
            "priority": item["priority"],
            "tiers": item["tiers"],
            "is_active": item["active"],
        }
        if line := upsert(Deployment, lookup, values, label):
            changes.append(line)
        kept.append(Deployment.objects.get(**lookup).pk)
    stale = model.deployments.exclude(pk__in=kept)
    changes += [f"deployment {d}: removed" for d in stale.select_related("model", "upstream")]
    stale.delete()
    return changes


register_section(
    Section(
        "upstreams", validate_list("upstreams", UPSTREAM_SCHEMA, "name"), _apply_upstreams, order=30
    )
)
register_section(
    Section("models", validate_list("models", MODEL_SCHEMA, "name"), _apply_models, order=40)
)
