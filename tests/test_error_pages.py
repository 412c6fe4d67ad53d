"""Error pages: in the layout, one sentence of what happened and what to do, no internals."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.test import Client, override_settings
from django.urls import path
from django.views.decorators.csrf import csrf_protect

from config.urls import urlpatterns as console_urlpatterns

SECRET_DETAIL = "ProgrammingError: relation quorum_secret_table does not exist"


def _raise_permission_denied(request):
    raise PermissionDenied("You may not change this agent.")


def _raise_not_found(request):
    raise Http404("No ApprovalRequest matches the given query.")


def _raise_server_error(request):
    raise RuntimeError(SECRET_DETAIL)


@csrf_protect
def _protected_form(request):
    return HttpResponse("sent")


def failing_context_processor(request):
    raise RuntimeError(SECRET_DETAIL)


urlpatterns = [
    path("test-errors/403/", _raise_permission_denied),
    path("test-errors/404/", _raise_not_found),
    path("test-errors/500/", _raise_server_error),
    path("test-errors/csrf/", _protected_form),
    *console_urlpatterns,
]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


def _assert_no_internals(html: str) -> None:
    for leak in ("Traceback", SECRET_DETAIL, "ApprovalRequest", "DEBUG", "settings", "RuntimeError"):
        assert leak not in html


@override_settings(DEBUG=False)
def test_it_shows_403_in_the_layout_with_the_reason_and_navigation(client, owner_user):
    client.force_login(owner_user)
    response = client.get("/test-errors/403/")
    html = response.content.decode()
    assert response.status_code == 403
    assert 'data-testid="error-page"' in html and 'aria-label="Main navigation"' in html
    assert 'href="/agents/"' in html  # the role's navigation is there
    assert "You may not change this agent." in html and "your home page" in html
    _assert_no_internals(html)


@override_settings(DEBUG=False)
def test_it_shows_404_in_the_layout_without_the_lookup_detail(client, owner_user):
    client.force_login(owner_user)
    response = client.get("/test-errors/404/")
    html = response.content.decode()
    assert response.status_code == 404
    assert 'aria-label="Main navigation"' in html and 'href="/agents/"' in html
    assert "This page does not exist" in html
    _assert_no_internals(html)


@override_settings(DEBUG=False)
def test_it_shows_404_for_an_unknown_address(client, owner_user):
    client.force_login(owner_user)
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "This page does not exist" in response.content.decode()


@override_settings(DEBUG=False)
def test_it_shows_500_without_internals(owner_user):
    client = Client(raise_request_exception=False)
    client.force_login(owner_user)
    response = client.get("/test-errors/500/")
    html = response.content.decode()
    assert response.status_code == 500
    assert 'aria-label="Main navigation"' in html and "Something went wrong on our side" in html
    assert "favicon.svg" in html and "bootstrap.min.css" in html  # looks like the layout
    _assert_no_internals(html)


def test_it_shows_500_even_when_the_context_processors_fail(owner_user, settings):
    """GIVEN a context processor that raises on every page (as a broken nav badge query would)
    WHEN any page is requested THEN the 500 page still renders, without internals."""
    settings.DEBUG = False
    settings.TEMPLATES = [
        {
            **settings.TEMPLATES[0],
            "OPTIONS": {
                **settings.TEMPLATES[0]["OPTIONS"],
                "context_processors": [
                    *settings.TEMPLATES[0]["OPTIONS"]["context_processors"],
                    f"{__name__}.failing_context_processor",
                ],
            },
        }
    ]
    client = Client(raise_request_exception=False)
    client.force_login(owner_user)
    response = client.get("/")
    html = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong on our side" in html
    _assert_no_internals(html)


@override_settings(DEBUG=False)
def test_it_explains_an_expired_form_in_the_layout(owner_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner_user)
    response = client.post("/test-errors/csrf/", {"x": "1"})
    html = response.content.decode()
    assert response.status_code == 403
    assert 'aria-label="Main navigation"' in html and "This form has expired" in html
    assert "CSRF cookie" not in html and "Nothing was changed" in html  # not Django's internal reason
