"""Eval runs are evidence: the admin shows them and cannot make or remove one, superusers included."""

import pytest
from django.urls import reverse

from evals.models import EvalRun
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(client):
    client.force_login(UserFactory(username="root", is_superuser=True, is_staff=True))
    return client


def test_it_refuses_to_add_an_eval_run_and_never_answers_500(superuser_client):
    url = reverse("admin:evals_evalrun_add")
    assert superuser_client.get(url).status_code == 403
    assert superuser_client.post(url, {}).status_code == 403
    assert not EvalRun.objects.exists()


def test_the_list_still_shows_runs_without_an_add_button(superuser_client):
    page = superuser_client.get(reverse("admin:evals_evalrun_changelist"))
    assert page.status_code == 200
    assert reverse("admin:evals_evalrun_add") not in page.content.decode()
