"""The playground page: the workspace's chat models with their prices, for every member."""

from __future__ import annotations

from proxy.models import Model


def page(client, persona, slug=None):
    client.force_login(persona.user)
    return client.get(f"/dashboard/w/{slug or persona.workspace.slug}/playground/")


def test_it_offers_the_chat_models_the_plan_allows_with_their_prices(
    client, member, gateway
) -> None:
    response = page(client, member)

    html = response.content.decode()
    assert response.status_code == 200
    assert 'value="llama3.2" data-input-price="0.050000" data-output-price="0.100000"' in html
    assert 'value="nomic-embed-text"' not in html  # an embedding model cannot chat
    assert 'id="playground-output"' in html and 'data-credits-per-call="1"' in html
    assert "js/playground.js" in html


def test_it_lists_the_workspaces_own_models_and_not_others(
    client, owner, outsider, gateway
) -> None:
    Model.objects.create(name="mine", workspace=owner.workspace)
    Model.objects.create(name="not-mine", workspace=outsider.workspace)

    html = page(client, owner).content.decode()

    assert "mine (yours)" in html
    assert "not-mine" not in html


def test_it_is_not_found_in_another_workspace(client, owner, outsider) -> None:
    assert page(client, outsider, slug=owner.workspace.slug).status_code == 404
