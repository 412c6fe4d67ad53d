"""Every page links an SVG favicon, and /favicon.ico (which browsers ask for anyway) finds it."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_it_links_the_favicon_in_the_layout(client, owner_user):
    client.force_login(owner_user)
    html = client.get("/").content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in html


def test_it_serves_the_svg(client):
    response = client.get("/static/favicon.svg")
    assert response.status_code == 200
    assert b"<svg" in b"".join(response.streaming_content)


def test_it_sends_favicon_ico_to_the_svg(client):
    response = client.get("/favicon.ico", follow=True)
    assert response.redirect_chain == [("/static/favicon.svg", 302)]
    assert response.status_code == 200
    assert response["Content-Type"].startswith("image/svg+xml")
