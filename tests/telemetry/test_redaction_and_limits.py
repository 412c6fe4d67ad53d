from __future__ import annotations

import pytest

from telemetry.models import Run
from telemetry.redaction import luhn_ok, mask_card_numbers, redact

pytestmark = pytest.mark.django_db


def test_it_redacts_denied_keys_and_masks_card_numbers_before_storage(agent_client, run_payload, agent):
    metadata = {
        "Email": "ada@example.com",
        "customer": {"phone-number": "+44 20 7946 0958", "note": "paid with 4111 1111 1111 1111 yesterday"},
        "items": [{"iban": "GB82WEST12345698765432"}, "card 5500-0000-0000-0004"],
        "order": "ZD-12345678901234",
        "raw_pan": 4012888888881881,
    }
    agent_client.post("/api/v1/runs/", run_payload(run_id="r", metadata=metadata), format="json")
    stored = Run.objects.get(agent=agent, run_id="r").metadata
    assert stored["Email"] == "[redacted]"
    assert stored["customer"]["phone-number"] == "[redacted]"
    assert stored["customer"]["note"] == "paid with ************1111 yesterday"
    assert stored["items"][0]["iban"] == "[redacted]"
    assert stored["items"][1] == "card ************0004"
    assert stored["order"] == "ZD-12345678901234"  # digits, but not a valid card number
    assert stored["raw_pan"] == "************1881"


def test_the_deny_list_is_configurable(settings, agent_client, run_payload, agent):
    settings.TELEMETRY_REDACT_KEYS = ["customer_name"]
    agent_client.post(
        "/api/v1/runs/", run_payload(run_id="r", metadata={"Customer Name": "Ada", "email": "x"}), format="json"
    )
    assert Run.objects.get(run_id="r").metadata == {"Customer Name": "[redacted]", "email": "x"}


def test_luhn():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert mask_card_numbers("1234567890123") == "1234567890123"
    assert redact({"a": [1, True, None]}, denied=frozenset()) == {"a": [1, True, None]}


def test_redaction_of_a_flat_mapping_keeps_short_strings_and_masks_long_ones():
    """The dict fast path: short strings as they are, long ones card-masked, denied keys (any
    key type, compared normalised) replaced, nested values through the general rules."""
    denied = frozenset({"password", "1"})
    value = {"Pass-Word": "hunter2", 1: "x", "card": "4111 1111 1111 1111", "note": "short", "n": {"password": 2}}
    assert redact(value, denied) == {
        "Pass-Word": "[redacted]", 1: "[redacted]", "card": "************1111", "note": "short",
        "n": {"password": "[redacted]"},
    }  # fmt: skip


def test_it_rate_limits_per_agent_with_429_and_retry_after(settings, agent_client, run_payload, agent):
    settings.TELEMETRY_RATE_LIMIT_PER_MINUTE = 3
    codes = [agent_client.get("/api/v1/controls/").status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    response = agent_client.post("/api/v1/runs/", run_payload(), format="json")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response.json()["errors"][0]["code"] == "throttled"
    assert not Run.objects.exists()


def test_the_rate_limit_is_per_agent(settings, agent_client, run_payload):
    from rest_framework.test import APIClient

    from registry.services import agent_key_issue
    from tests.factories import AgentFactory

    settings.TELEMETRY_RATE_LIMIT_PER_MINUTE = 1
    assert agent_client.get("/api/v1/controls/").status_code == 200
    assert agent_client.get("/api/v1/controls/").status_code == 429
    _key, secret = agent_key_issue(agent=AgentFactory(slug="b"), name="b")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert other.get("/api/v1/controls/").status_code == 200


def test_the_rate_limit_counter_lives_in_the_shared_cache(settings, agent_client, agent):
    """The count is in Redis (the configured cache), so another web process sees it."""
    import time

    from django.core.cache import caches

    settings.TELEMETRY_RATE_LIMIT_PER_MINUTE = 100
    agent_client.get("/api/v1/controls/")
    agent_client.get("/api/v1/controls/")
    assert "redis" in settings.CACHES["default"]["BACKEND"].lower()
    window = int(time.time() // 60)
    key = f"telemetry:rl:runs:{agent.pk}:{window}"
    assert caches["default"].get(key) == 2
    # The window's counter expires with its minute (the script sets the expiry with the count).
    client = caches["default"]._cache.get_client(write=True)
    assert 0 < client.ttl(caches["default"].make_and_validate_key(key)) <= 65


def test_the_redis_cache_builds_its_client_once_per_pool():
    """config/redis_cache.py: Django's backend built a redis-py client (and its callback table) on
    every call; ours keeps one per pool, and it still talks to the same Redis."""
    from django.core.cache import caches

    from config.redis_cache import RedisCache

    backend = caches["default"]
    assert isinstance(backend, RedisCache)
    first = backend._cache.get_client("k")
    assert backend._cache.get_client("k", write=True) is first
    backend.set("redis-cache-test", {"n": 1}, 30)
    assert backend.get_many(["redis-cache-test", "absent"]) == {"redis-cache-test": {"n": 1}}
    assert backend._cache.get_client() is first
