"""The Docs page's Codex CLI sample: a config.toml for the user's base URL (a custom provider on
/v1 with wire_api "responses", the setup tests/clients/test_codex.py proves) and the key's
environment variable."""

from __future__ import annotations

import tomllib

from .test_dashboard_docs import BASE, _base_url, docs_url, sample  # noqa: F401


def test_it_shows_codexs_config_toml_with_the_users_base_url(client, owner, key_a) -> None:
    client.force_login(owner.user)

    response = client.get(docs_url(owner))

    config = tomllib.loads(sample(response, "codex"))
    assert config["model_provider"] == "tollgate"
    assert config["model"] == "glm-4.5-air"
    assert config["model_providers"]["tollgate"] == {
        "name": "Tollgate",
        "base_url": f"{BASE}/v1",
        "env_key": "TOLLGATE_API_KEY",
        "wire_api": "responses",
    }
    assert config["features"] == {"plugins": False}
    assert sample(response, "codex-run") == f"export TOLLGATE_API_KEY={key_a.key.prefix}…\ncodex"
    html = response.content.decode()
    assert 'data-copy-target="sample-codex"' in html
