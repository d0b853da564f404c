from __future__ import annotations

from decimal import Decimal

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from billing.catalog import DEFAULT_CATALOG, CatalogInvalid, apply
from billing.models import CatalogSetting, Plan
from billing.services import catalog_settings

SEED_004 = {  # code: (scopes, monthly credits)
    "trial_chat": (["chat"], 15_000),
    "paid_chat": (["chat"], 600_000),
    "chat_agent": (["chat", "chat_agent"], 1_500_000),
    "chat_agent_train": (["chat", "chat_agent", "chat_agent_train"], 4_000_000),
    "local_agent_train": (
        ["chat", "chat_agent", "chat_agent_train", "local_model_access"], 10_000_000,
    ),
    "enterprise": (["chat", "chat_agent", "chat_agent_train"], None),
}  # fmt: skip
SEED_000 = {  # code: (requests per 5 hours, per week)
    "basic": (60, 300),
    "standard": (100, 500),
    "plus": (150, 750),
    "pro": (360, 1800),
    "max": (720, 3600),
    "ultra": (1440, 7200),
}


def write(tmp_path, document) -> str:
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(document) if not isinstance(document, str) else document)
    return str(path)


def faults_of(document) -> list[str]:
    with pytest.raises(CatalogInvalid) as caught:
        apply(document)
    return caught.value.faults


def test_it_ships_the_plans_of_both_seeds(catalog) -> None:
    for code, (scopes, credits) in SEED_004.items():
        plan = Plan.objects.get(code=code)
        assert (plan.scopes, plan.monthly_credits) == (scopes, credits), code
    for code, (per_5h, per_week) in SEED_000.items():
        plan = Plan.objects.get(code=code)
        assert (plan.requests_per_5h, plan.requests_per_week) == (per_5h, per_week), code
    payg = Plan.objects.get(code="payg")
    assert payg.prepaid and payg.signup_balance == Decimal("5")
    assert catalog_settings()["default_plan"] == "trial_chat"
    assert catalog_settings()["endpoint_credits"]["job_start"] == 25


@pytest.mark.parametrize(
    "name, served",
    [
        ("claude-opus-4-8", "glm-4.5-air"),  # Claude Code's default model
        ("claude-opus-4-1-20250805", "glm-4.5-air"),
        ("claude-opus-5", "glm-4.5-air"),
        ("claude-opus-5-5", "glm-4.5-air"),
        ("claude-fable-5-2", "glm-4.5-air"),
        ("claude-mythos-5", "glm-4.5-air"),
        ("claude-3-opus-20240229", "glm-4.5-air"),
        ("claude-sonnet-4-6", "qwen2.5:7b"),
        ("claude-sonnet-4-5-20250929", "qwen2.5:7b"),
        ("claude-sonnet-5", "qwen2.5:7b"),
        ("claude-sonnet-5-5", "qwen2.5:7b"),
        ("claude-3-7-sonnet-latest", "qwen2.5:7b"),
        ("claude-haiku-4-5-20251001", "llama3.2"),
        ("claude-haiku-5-5", "llama3.2"),
        ("claude-3-5-haiku-latest", "llama3.2"),
        ("claude-3-haiku-20240307", "llama3.2"),
    ],
)
def test_it_serves_old_and_current_claude_names_on_their_tiers(catalog, name, served) -> None:
    from proxy.registry import registry

    assert registry.snapshot().resolve(name, None).name == served


def test_it_is_idempotent_and_prints_what_changed(db, tmp_path, capsys) -> None:
    call_command("apply_catalog", str(DEFAULT_CATALOG))
    first = capsys.readouterr().out
    assert "plan trial_chat: created" in first
    call_command("apply_catalog", str(DEFAULT_CATALOG))
    assert capsys.readouterr().out.strip() == "no changes"
    path = write(
        tmp_path, {"plans": [{"code": "basic", "name": "BASIC", "scopes": ["chat"], "rpm": 20}]}
    )
    call_command("apply_catalog", path)
    out = capsys.readouterr().out
    assert "plan basic: updated (" in out and "rpm null → 20" in out
    assert "requests_per_5h 60 → null" in out  # absent fields take their defaults
    assert Plan.objects.filter(code="ultra").exists()  # without --prune nothing is removed


def test_it_prunes_only_unused_entries_of_present_sections(db, tmp_path, capsys) -> None:
    call_command("apply_catalog", str(DEFAULT_CATALOG))
    path = write(tmp_path, {"plans": [{"code": "solo", "name": "Solo", "scopes": ["chat"]}]})
    call_command("apply_catalog", path, "--prune")
    assert list(Plan.objects.values_list("code", flat=True)) == ["solo"]
    assert CatalogSetting.objects.filter(key="default_plan").exists()  # settings not in the file


def test_it_refuses_to_prune_a_plan_in_use(owner, tmp_path) -> None:
    path = write(tmp_path, {"plans": [{"code": "solo", "name": "Solo", "scopes": ["chat"]}]})
    with pytest.raises(CommandError) as caught:
        call_command("apply_catalog", path, "--prune")
    assert caught.value.returncode == 2
    assert not Plan.objects.filter(code="solo").exists()  # nothing applied
    assert Plan.objects.filter(code="chat_agent").exists()


@pytest.mark.parametrize(
    ("plans", "fault"),
    [
        ([{"code": "a", "name": "A", "scopes": ["chat"], "rpm": 0}], "plans[0].rpm: must be a positive integer"),
        ([{"code": "a", "name": "A", "scopes": ["chat"], "rpm": "10"}], "plans[0].rpm: must be a positive integer"),
        ([{"code": "a", "name": "A", "scopes": ["chat"], "tpm": True}], "plans[0].tpm: must be a positive integer"),
        ([{"code": "a", "name": "A", "scopes": ["chat", "fly"]}], "plans[0].scopes[1]: unknown value 'fly'; expected one of chat, chat_agent, chat_agent_train, local_model_access"),
        ([{"code": "a", "name": "A", "scopes": ["chat"], "colour": "red"}], "plans[0].colour: unknown field"),
        ([{"code": "a", "scopes": ["chat"]}], "plans[0].name: is required"),
        ([{"code": "a b", "name": "A", "scopes": ["chat"]}], "plans[0].code: may contain only letters, digits, '_', '-' and '.'"),
        ([{"code": "a", "name": "A", "scopes": ["chat"], "signup_balance": -1}], "plans[0].signup_balance: must be a number of 0 or more"),
        ([{"code": "a", "name": "A", "scopes": ["chat"], "tiers": ["warp"]}], "plans[0].tiers[0]: unknown value 'warp'; expected one of slow, medium, fast, ludicrous"),
        ([{"code": "a", "name": "A", "scopes": ["chat"]}, {"code": "a", "name": "B", "scopes": ["chat"]}], "plans[1].code: duplicate of plans[0]"),
        ({"code": "a"}, "plans: must be a list"),
        (["basic"], "plans[0]: must be a mapping"),
    ],
)  # fmt: skip
def test_it_names_the_yaml_path_of_each_fault(db, plans, fault) -> None:
    assert fault in faults_of({"plans": plans})


def test_it_applies_nothing_when_any_fault_is_found(catalog, tmp_path, capsys) -> None:
    path = write(
        tmp_path,
        {
            "settings": {"default_plan": "basic"},
            "plans": [
                {"code": "basic", "name": "Changed", "scopes": ["chat"]},
                {"code": "x", "name": "X", "scopes": ["chat"], "rpm": -5},
            ],
        },
    )
    with pytest.raises(CommandError) as caught:
        call_command("apply_catalog", path)
    assert caught.value.returncode == 2
    assert "plans[1].rpm: must be a positive integer" in capsys.readouterr().err
    assert Plan.objects.get(code="basic").name == "BASIC"
    assert catalog_settings()["default_plan"] == "trial_chat"


def test_it_validates_settings_and_sections(db) -> None:
    faults = faults_of(
        {
            "settings": {
                "timezone": "Mars/Olympus",
                "peak_hours": "2pm-6pm",
                "endpoint_credits": {"chat": -1},
                "colour": "red",
            },
            "gadgets": [],
        }
    )
    assert "settings.timezone: unknown time zone 'Mars/Olympus'" in faults
    assert 'settings.peak_hours: must look like "14:00-18:00"' in faults
    assert "settings.endpoint_credits.chat: must be an integer of 0 or more" in faults
    assert "settings.colour: unknown field" in faults
    assert any(f.startswith("gadgets: unknown section") for f in faults)


def test_it_reports_unreadable_or_invalid_yaml_with_exit_2(db, tmp_path, capsys) -> None:
    for text in ("plans: [unclosed", "- just\n- a list\n"):
        with pytest.raises(CommandError) as caught:
            call_command("apply_catalog", write(tmp_path, text))
        assert caught.value.returncode == 2
    with pytest.raises(CommandError):
        call_command("apply_catalog", str(tmp_path / "missing.yaml"))
    assert "cannot read" in capsys.readouterr().err


def test_it_exits_2_from_the_real_command_line(db, tmp_path) -> None:
    import os
    import subprocess
    import sys

    path = write(tmp_path, {"plans": [{"code": "a", "name": "A", "scopes": ["chat"], "rpm": 0}]})
    result = subprocess.run(
        [sys.executable, "manage.py", "apply_catalog", path],
        capture_output=True, text=True, env={**os.environ, "DEBUG": "1"}, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "plans[0].rpm: must be a positive integer" in result.stderr
