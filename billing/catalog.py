"""The catalog file: validate a YAML document completely, then apply it in one transaction.

Sections are independent (`settings`, `plans`, and those other apps register, e.g. `upstreams`,
`models`); only the sections present in a file are touched. A fault anywhere is reported with its
YAML path (`plans[2].rpm: must be a positive integer`) and nothing is applied.
"""

from __future__ import annotations

import os
import re
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml
from django.db import models, transaction

from .models import SCOPES, TIERS, CatalogSetting, Plan

DEFAULT_CATALOG = Path(__file__).resolve().parent.parent / "config" / "catalog.yaml"


class CatalogInvalid(Exception):
    def __init__(self, faults: list[str]) -> None:
        super().__init__("\n".join(faults))
        self.faults = faults


class Fault(ValueError):
    """A value's problem. `subpath` locates it inside the value (`[2]`, `.chat`)."""

    def __init__(self, message: str, subpath: str = "") -> None:
        super().__init__(message)
        self.subpath = subpath


# --- value checkers: each returns the clean value or raises Fault -------------------------------

Checker = Callable[[Any], Any]


def nullable(check: Checker) -> Checker:
    def run(value: Any) -> Any:
        return None if value is None else check(value)

    return run


def positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise Fault("must be a positive integer")
    return value


def non_negative_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Fault("must be an integer of 0 or more")
    return value


def integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Fault("must be an integer")
    return value


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Fault("must be true or false")
    return value


def text(max_length: int, *, required: bool = True) -> Checker:
    def run(value: Any) -> str:
        if not isinstance(value, str):
            raise Fault("must be a string")
        value = value.strip()
        if required and not value:
            raise Fault("must not be empty")
        if len(value) > max_length:
            raise Fault(f"must be at most {max_length} characters")
        return value

    return run


def slug(max_length: int) -> Checker:
    def run(value: Any) -> str:
        value = text(max_length)(value)
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", value):
            raise Fault("may contain only letters, digits, '_', '-' and '.'")
        return value

    return run


def money(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise Fault("must be a number of 0 or more")
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise Fault("must be a number of 0 or more") from exc
    if not amount.is_finite() or amount < 0:
        raise Fault("must be a number of 0 or more")
    return amount


def list_of(check: Checker, *, choices: Iterable[str] | None = None) -> Checker:
    allowed = tuple(choices) if choices is not None else None

    def run(value: Any) -> list:
        if not isinstance(value, list):
            raise Fault("must be a list")
        clean = []
        for index, item in enumerate(value):
            try:
                item = check(item)
            except Fault as exc:
                raise Fault(str(exc), f"[{index}]{exc.subpath}") from exc
            if allowed is not None and item not in allowed:
                raise Fault(
                    f"unknown value {item!r}; expected one of {', '.join(allowed)}", f"[{index}]"
                )
            clean.append(item)
        return clean

    return run


def mapping_of(check: Checker) -> Checker:
    def run(value: Any) -> dict:
        if not isinstance(value, dict):
            raise Fault("must be a mapping")
        clean = {}
        for key, item in value.items():
            try:
                clean[str(key)] = check(item)
            except Fault as exc:
                raise Fault(str(exc), f".{key}{exc.subpath}") from exc
        return clean

    return run


def time_zone(value: Any) -> str:
    value = text(64)(value)
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise Fault(f"unknown time zone {value!r}") from exc
    return value


def hour_range(value: Any) -> str:
    value = text(11)(value)
    match = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)", value)
    if not match:
        raise Fault('must look like "14:00-18:00"')
    return value


# --- schema of one record ----------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    check: Checker
    required: bool = False
    default: Any = None
    attr: str | None = None  # model attribute, when it differs from the YAML name


def check_record(record: Any, schema: dict[str, Field], path: str, faults: list[str]) -> dict:
    """Validate one mapping against `schema`; faults are appended with their YAML paths."""
    if not isinstance(record, dict):
        faults.append(f"{path}: must be a mapping")
        return {}
    clean: dict[str, Any] = {}
    for name in record:
        if name not in schema:
            faults.append(f"{path}.{name}: unknown field")
    for name, spec in schema.items():
        if name not in record:
            if spec.required:
                faults.append(f"{path}.{name}: is required")
            else:
                clean[name] = spec.default() if callable(spec.default) else spec.default
            continue
        try:
            clean[name] = spec.check(record[name])
        except Fault as exc:
            faults.append(f"{path}.{name}{exc.subpath}: {exc}")
    return clean


# --- sections ----------------------------------------------------------------------------------


@dataclass
class Section:
    """One top-level key of the catalog: how to validate its items and how to apply them."""

    name: str
    validate: Callable[[Any, list[str]], Any]
    apply: Callable[[Any, bool], list[str]]
    order: int = 100
    depends_on: tuple[str, ...] = field(default_factory=tuple)


SECTIONS: dict[str, Section] = {}


def register_section(section: Section) -> None:
    SECTIONS[section.name] = section


def upsert(
    model: type[models.Model],
    lookup: dict[str, Any],
    values: dict[str, Any],
    label: str,
    *,
    secret: Iterable[str] = (),
) -> str | None:
    """Create or update one row; a line describing the change, or None when unchanged.
    Attributes named in `secret` are reported as changed without their values."""
    instance = model.objects.filter(**lookup).first()
    if instance is None:
        model.objects.create(**lookup, **values)
        return f"{label}: created"
    changed = []
    for attr, value in values.items():
        old = getattr(instance, attr)
        if _differs(old, value):
            shown = "changed" if attr in secret else f"{_show(old)} → {_show(value)}"
            changed.append(f"{attr} {shown}")
            setattr(instance, attr, value)
    if not changed:
        return None
    instance.save()
    return f"{label}: updated ({'; '.join(changed)})"


def _differs(old: Any, new: Any) -> bool:
    if isinstance(old, Decimal) or isinstance(new, Decimal):
        return (old is None) != (new is None) or (old is not None and Decimal(old) != Decimal(new))
    return old != new


def _show(value: Any) -> str:
    return "null" if value is None else str(value)


# settings --------------------------------------------------------------------------------------

SETTINGS_SCHEMA: dict[str, Field] = {
    "default_plan": Field(slug(40)),
    "default_model": Field(nullable(text(200))),
    "timezone": Field(time_zone),
    "peak_hours": Field(hour_range),
    "endpoint_credits": Field(mapping_of(non_negative_int)),
}


def _validate_settings(data: Any, faults: list[str]) -> dict:
    if not isinstance(data, dict):
        faults.append("settings: must be a mapping")
        return {}
    present = {name: spec for name, spec in SETTINGS_SCHEMA.items() if name in data}
    clean = check_record(data, present, "settings", faults)
    return clean


def _apply_settings(clean: dict, prune: bool) -> list[str]:
    from .services import forget_catalog_settings

    changes = [
        line
        for key, value in clean.items()
        if (line := upsert(CatalogSetting, {"key": key}, {"value": value}, f"setting {key}"))
    ]
    if prune:
        stale = CatalogSetting.objects.exclude(key__in=list(clean))
        changes += [f"setting {key}: removed" for key in stale.values_list("key", flat=True)]
        stale.delete()
    forget_catalog_settings()  # now, and again once committed
    transaction.on_commit(forget_catalog_settings)
    return changes


# plans -----------------------------------------------------------------------------------------

PLAN_SCHEMA: dict[str, Field] = {
    "code": Field(slug(40), required=True),
    "name": Field(text(80), required=True),
    "description": Field(text(200, required=False), default=""),
    "scopes": Field(list_of(text(40), choices=SCOPES), required=True),
    "monthly_credits": Field(nullable(positive_int)),
    "requests_per_5h": Field(nullable(positive_int)),
    "requests_per_week": Field(nullable(positive_int)),
    "rpm": Field(nullable(positive_int)),
    "tpm": Field(nullable(positive_int)),
    "max_concurrency": Field(nullable(positive_int)),
    "models": Field(list_of(text(200)), default=list, attr="model_patterns"),
    "tiers": Field(list_of(text(20), choices=TIERS), default=list),
    "prepaid": Field(boolean, default=False),
    "signup_balance": Field(money, default=lambda: Decimal("0")),
    "monthly_price": Field(nullable(money)),
    "public": Field(boolean, default=True, attr="is_public"),
    "order": Field(integer, default=0),
}


def validate_list(
    name: str, schema: dict[str, Field], key: str
) -> Callable[[Any, list[str]], list]:
    def validate(items: Any, faults: list[str]) -> list[dict]:
        if not isinstance(items, list):
            faults.append(f"{name}: must be a list")
            return []
        clean, seen = [], {}
        for index, item in enumerate(items):
            record = check_record(item, schema, f"{name}[{index}]", faults)
            ident = record.get(key)
            if ident is not None and ident in seen:
                faults.append(f"{name}[{index}].{key}: duplicate of {name}[{seen[ident]}]")
            elif ident is not None:
                seen[ident] = index
            clean.append(record)
        return clean

    return validate


def model_values(record: dict, schema: dict[str, Field], skip: Iterable[str] = ()) -> dict:
    return {spec.attr or name: record[name] for name, spec in schema.items() if name not in skip}


def _apply_plans(plans: list[dict], prune: bool) -> list[str]:
    changes = []
    for record in plans:
        values = model_values(record, PLAN_SCHEMA, skip=("code",))
        line = upsert(Plan, {"code": record["code"]}, values, f"plan {record['code']}")
        if line:
            changes.append(line)
    if prune:
        stale = Plan.objects.exclude(code__in=[p["code"] for p in plans])
        in_use = list(
            stale.filter(subscriptions__isnull=False).distinct().values_list("code", flat=True)
        )
        if in_use:
            raise CatalogInvalid(
                [
                    f"plans: cannot prune plan {code!r}: workspaces are subscribed to it"
                    for code in in_use
                ]
            )
        changes += [f"plan {code}: removed" for code in stale.values_list("code", flat=True)]
        stale.delete()
    return changes


register_section(Section("settings", _validate_settings, _apply_settings, order=10))
register_section(
    Section("plans", validate_list("plans", PLAN_SCHEMA, "code"), _apply_plans, order=20)
)


# --- entry points ------------------------------------------------------------------------------


_ENV_REFERENCE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?::-([^}]*))?\}")


def expand_env(value: Any) -> Any:
    """`${VAR}` and `${VAR:-default}` in string values, so one file serves several hosts."""
    if isinstance(value, str):
        return _ENV_REFERENCE.sub(lambda m: os.environ.get(m.group(1)) or (m.group(2) or ""), value)
    if isinstance(value, list):
        return [expand_env(item) for item in value]
    if isinstance(value, dict):
        return {key: expand_env(item) for key, item in value.items()}
    return value


def load_file(path: str | Path) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return expand_env(yaml.safe_load(handle))
    except OSError as exc:
        raise CatalogInvalid([f"{path}: cannot read ({exc.strerror})"]) from exc
    except yaml.YAMLError as exc:
        raise CatalogInvalid([f"{path}: not valid YAML ({exc})"]) from exc


def validate(document: Any) -> dict[str, Any]:
    """Every section's clean data; raises CatalogInvalid listing every fault."""
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise CatalogInvalid(["(top level): must be a mapping of sections"])
    faults: list[str] = []
    for name in document:
        if name not in SECTIONS:
            faults.append(f"{name}: unknown section (known: {', '.join(sorted(SECTIONS))})")
    clean = {
        name: section.validate(document[name], faults)
        for name, section in SECTIONS.items()
        if name in document
    }
    if faults:
        raise CatalogInvalid(faults)
    return clean


def apply(document: Any, *, prune: bool = False) -> list[str]:
    """Validate all, then apply all in one transaction; the lines describing what changed."""
    clean = validate(document)
    changes: list[str] = []
    with transaction.atomic():
        for section in sorted(SECTIONS.values(), key=lambda s: s.order):
            if section.name in clean:
                changes += section.apply(clean[section.name], prune)
    return changes


def apply_file(path: str | Path, *, prune: bool = False) -> list[str]:
    return apply(load_file(path), prune=prune)
