"""The dashboard's docs page: samples filled with PUBLIC_BASE_URL and the chosen key's prefix
(never a secret, never another workspace's key), copy buttons and the API reference links."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from keys.services import issue_key, revoke_key

BASE = "https://gateway.example.test"


def docs_url(persona) -> str:
    return reverse("dashboard:docs", args=[persona.workspace.slug])


@pytest.fixture(autouse=True)
def _base_url(settings) -> None:
    settings.PUBLIC_BASE_URL = BASE


def sample(response, name: str) -> str:
    """The text a copy button copies: the <code> element's text."""
    html = response.content.decode()
    match = re.search(rf'<code id="sample-{name}">(.*?)</code>', html, re.S)
    assert match, name
    text = re.sub(r"<[^>]+>", "", match.group(1))
    return text.replace("&quot;", '"').replace("&#x27;", "'").replace("&amp;", "&")


@pytest.mark.parametrize("persona", ["owner", "member"])
def test_it_renders_for_owner_and_member(client, request, key_a, persona) -> None:
    who = request.getfixturevalue(persona)
    client.force_login(who.user)

    response = client.get(docs_url(who))

    assert response.status_code == 200
    assert 'aria-current="page">Docs<' in response.content.decode()
    placeholder = f"{key_a.key.prefix}…"
    assert sample(response, "curl") == (
        f"curl {BASE}/v1/chat/completions \\\n"
        f'  -H "Authorization: Bearer {placeholder}" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        '  -d \'{"model": "glm-4.5-air", "messages": [{"role": "user", "content": "Hello!"}]}\''
    )
    assert f'base_url="{BASE}/v1"' in sample(response, "python")
    assert f'api_key="{placeholder}"' in sample(response, "python")
    assert f'fetch("{BASE}/v1/chat/completions"' in sample(response, "node")
    assert sample(response, "claude") == (
        f"export ANTHROPIC_BASE_URL={BASE}\nexport ANTHROPIC_AUTH_TOKEN={placeholder}\nclaude"
    )
    assert f"{BASE}/api/v1/chat" in sample(response, "ollama")
    assert f"X-API-Key: {placeholder}" in sample(response, "ollama")
    ollama_python = sample(response, "ollama-python")
    assert ollama_python.startswith("from ollama import Client\n")
    assert f'host="{BASE}"' in ollama_python
    assert f'headers={{"Authorization": "Bearer {placeholder}"}}' in ollama_python
    assert 'model="glm-4.5-air"' in ollama_python
    assert sample(response, "ollama-native").startswith(f"curl {BASE}/api/chat \\\n")


def test_it_is_a_404_for_an_outsider(client, owner, outsider) -> None:
    client.force_login(outsider.user)
    assert client.get(docs_url(owner)).status_code == 404


def test_it_never_shows_a_secret(client, owner, key_a) -> None:
    client.force_login(owner.user)
    html = client.get(docs_url(owner)).content.decode()
    assert key_a.secret not in html
    assert key_a.secret[len(key_a.key.prefix) :] not in html
    assert "paste the full key" in html


def test_it_fills_the_samples_with_the_picked_key(client, owner, key_a) -> None:
    other = issue_key(owner.workspace, "laptop", created_by=owner.user).key
    client.force_login(owner.user)

    newest = client.get(docs_url(owner))
    picked = client.get(docs_url(owner), {"key": str(key_a.key.pk)})

    assert f"{other.prefix}…" in sample(newest, "claude")  # the newest key by default
    assert f"{key_a.key.prefix}…" in sample(picked, "claude")
    assert f"{other.prefix}…" not in sample(picked, "curl")
    html = picked.content.decode()
    assert f'<option value="{key_a.key.pk}" selected>' in html
    assert f'<option value="{other.pk}">' in html


def test_it_never_offers_or_shows_another_workspaces_key(client, owner, key_a, key_b) -> None:
    client.force_login(owner.user)
    response = client.get(docs_url(owner), {"key": str(key_b.key.pk)})

    assert response.status_code == 200
    html = response.content.decode()
    assert key_b.key.prefix not in html
    assert str(key_b.key.pk) not in html
    assert f"{key_a.key.prefix}…" in sample(response, "curl")


def test_it_offers_only_active_keys(client, owner, key_a) -> None:
    revoked = issue_key(owner.workspace, "old", created_by=owner.user).key
    revoke_key(revoked)
    expired = issue_key(
        owner.workspace,
        "expired",
        created_by=owner.user,
        expires_at=timezone.now() + timedelta(seconds=1),
    ).key
    expired.expires_at = timezone.now() - timedelta(days=1)
    expired.save(update_fields=["expires_at"])
    client.force_login(owner.user)

    response = client.get(docs_url(owner), {"key": str(revoked.pk)})

    assert [k.pk for k in response.context["keys"]] == [key_a.key.pk]
    assert response.context["key"] == key_a.key
    html = response.content.decode()
    assert revoked.prefix not in html and expired.prefix not in html


def test_it_explains_what_to_do_without_a_key(client, owner, member) -> None:
    client.force_login(owner.user)
    response = client.get(docs_url(owner))
    assert "sk-tg-…" in sample(response, "curl")
    assert b"no active key yet" in response.content
    assert reverse("dashboard:keys", args=[owner.workspace.slug]).encode() in response.content

    client.force_login(member.user)
    assert b"Ask an owner or admin" in client.get(docs_url(member)).content


def test_it_has_copy_buttons_and_links_the_api_reference(client, owner, key_a) -> None:
    client.force_login(owner.user)
    html = client.get(docs_url(owner)).content.decode()
    for name in ("curl", "python", "node", "claude", "ollama"):
        assert f'data-copy-target="sample-{name}"' in html
    assert "js/copy.js" in html
    for url in ("/documentation/openapi.json", "/api/v1/docs", "/api/v1/redoc"):
        assert f'href="{url}"' in html
        assert client.get(url).status_code == 200
