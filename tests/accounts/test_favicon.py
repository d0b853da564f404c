"""The favicon: an SVG in static/, linked from every page (dashboard and account pages), and
/favicon.ico sends browsers to it instead of a 404."""

from __future__ import annotations

from django.contrib.staticfiles import finders
from django.templatetags.static import static
from django.urls import reverse

from .test_team import team_url

ICON_LINK = f'<link rel="icon" href="{static("favicon.svg")}" type="image/svg+xml">'


def test_it_answers_favicon_ico_with_the_svg(client, db) -> None:
    response = client.get("/favicon.ico")

    assert response.status_code == 302
    assert response["Location"] == static("favicon.svg")
    found = finders.find("favicon.svg")
    assert found, "static/favicon.svg"
    with open(found, encoding="utf-8") as svg:
        assert svg.read().lstrip().startswith("<svg")


def test_it_links_the_icon_from_account_and_dashboard_pages(client, owner) -> None:
    assert ICON_LINK in client.get(reverse("accounts:login")).content.decode()  # the auth layout
    client.force_login(owner.user)
    assert ICON_LINK in client.get(team_url(owner.workspace)).content.decode()
