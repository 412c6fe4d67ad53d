"""Stored hashes survive refactoring: bundle digests, approval payload hashes and the canonical
JSON they are computed from equal what the code computed before canonical JSON was unified
(issue 12). Every literal below was printed by the code as it was before that change.

Approvals and evals bind to a version's bundle digest, and decisions to a request's payload
hash; a different canonical form (key order, separators, ``ensure_ascii``) would silently turn
every stored approval stale. If one of these literals has to change, existing rows need a data
migration, not a new literal.

Two values in the demo payloads are not stable between databases (a version's primary key and
an action request's UUID); those are pinned to fixed values before hashing, and the stored hash
is checked against a recomputation instead."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from approvals.models import ApprovalRequest
from approvals.services import payload_hash_compute
from registry.canonical import canonical_json
from registry.models import AgentVersion

pytestmark = pytest.mark.django_db

# (agent slug, version label) -> bundle digest, after `manage.py seed_demo`.
DEMO_BUNDLE_DIGESTS: dict[tuple[str, str], str] = {
    ("churn-outreach", "1.0"): "9aa34600c0389c34c2b1485da9d5642634de7ddfe7a72cb34c194876090ade6a",
    ("churn-outreach", "1.1"): "6914f7c0fc43f34af2f3e91813eceb5b78ea60707cb6a9fde9b536922e4d14c9",
    ("contract-clauses", "1.0"): "c17640ecdc400c218a894c34ac6cece395df1762d1259008ef0a61df81f369c9",
    ("contract-clauses", "1.1"): "c6bbafe1046fe6fd8f18930e1ba64398f5d228b12514b19f5c99f9c9ef0d271e",
    # The rollouts demo's version in shadow, then on a canary plan (issue 19).
    ("contract-clauses", "1.2"): "9ea7839b5d31fe9c3335c4ed94683fd2fd687bb18d4a6f993c8a85ea0aefca19",
    ("hr-policy-qa", "0.1"): "f0bc4bc06da4b0a86c3a0d7ff425cc45363c0c1e206493b8851834bae635fea0",
    ("invoice-matching", "1.0"): "5eff1daceea60334b6e2d7e61394546d03f1687e19c807a2417cc834e5d71e3f",
    ("invoice-matching", "1.1"): "f46269e55a78485b3f45815d839b8ec7965e1b8330c21ed6c1841ac13d4f698f",
    ("it-helpdesk", "1.0"): "0ae59ba6237be05bc646b5f38fb7c26e3044ebdbf088822a0ec7910cfaf9414a",
    ("it-helpdesk", "1.1"): "d731ce24d113883c3d7171e4b27a84d7c02787bc4b328d2dae46fc540517ce4a",
    ("knowledge-search", "1.0"): "7d75e213beb49e72a1f290bb5311d99736c272b2bc98a040d14f632e273d4a6a",
    ("knowledge-search", "1.1"): "4cbc4f4dc9e6f5e56e471a803a5bf7c48cbc4d70f459393ec196fa034f10b466",
    ("meeting-notes", "1.0"): "e1f7620b359e6652c569845736bb4c09830572bce0474d6f23b4229cf5beb68c",
    ("meeting-notes", "1.1"): "dcc6a3d8d4f2babba9365ef772bd37fa6df754e108a8b3677e1ab33dbb8fd1af",
    ("order-status", "1.0"): "864a9ac40cf17373871d2a4a3f457d668b0bc5e758dfc8093baf1125a0e59930",
    ("order-status", "1.1"): "2836ad8d4c41eb0ef3751514d40aec5b14c599fe295738194ec5b848006910ae",
    ("refund-assistant", "1.0"): "f47f67253b0fc590815a9ca8a217fd189810dd5add59a37bef19334b391f3a2a",
    ("refund-assistant", "1.1"): "a9dfdb4bad871186f6f9f3ae11cc38be3898b8548d4f6651969f36c29b7948a1",
    ("sales-leads", "1.0"): "239c8c7c2d3360e43125176b68c7539c8ad1e04c1888f860194c423c682760e2",
    ("sales-leads", "1.1"): "2b74eec66ac6a7cbb62f23cc27bdd71ecdbca316231acdab577ef85c965d056e",
    ("sales-leads", "1.1+g1"): "aa63e2e2ebae0647546f5848260974f8c15b949fe82e83d0fe96117356d648ed",
    ("sre-runbook", "1.0"): "5e57ef417cf578dc55fa732fa6226b58eee4a35eb467267f55f818a6510eaba4",
    ("sre-runbook", "1.1"): "72a9393d36fa7b8bd0033c83e3ba966117dd35f67ae13ccdc56c7be89c957d93",
    ("support-triage", "1.0"): "d882f8c977e049624679a5169774adf245fb4c4644f3b2cb0dbee254a2d5813c",
    # Changed with the demo's data, not the computation: since issue 17's MCP demo, 1.1 pins the
    # sample upstream's payments.refund (registry.demo.DEMO_MCP_PINS; 474dbbea… without the pin).
    ("support-triage", "1.1"): "46d8bede377538e45d0534a8083f3d0f428eb79926dea7ae9dd246a4aff5871e",
    # The compliance demo's new version, approved through the two-person path (issue 21).
    ("support-triage", "1.2"): "9c9a414e51b8bbf92eb944ac99ae90817aa698e3b1d02910ef6ce4449bdf458a",
    ("vendor-onboarding", "1.0"): "0962fe5620f9889ca1299f9cfbd15304000465c5d9a4a5118c09eaae89aca840",
    ("vendor-onboarding", "1.1"): "bb168be5242e95f72dde7e97f395dfe6daf2677a2f4136c90959fa1f49002d8d",
}

# (agent slug, request kind) -> payload hash with volatile ids pinned (see _pinned).
DEMO_PAYLOAD_HASHES: dict[tuple[str, str], str] = {
    ("it-helpdesk", "tool_grant"): "94c8ccaa2d5ae5303624d455e1416f42b982359ddc729e85c7ae2cb05d47f216",
    ("knowledge-search", "tier_change"): "8f344bc2b5a6755ce47401b9c52bd64208bfabc2b7f85e035785b6403de15b5f",
    ("order-status", "tier_change"): "6b981b0bbcf38cea89a3f4a48b010f99e1498eccbbff9191e6e94718a8cc02af",
    ("refund-assistant", "impact_assessment"): "e53344b318e4255c1f653b0635ba19c381e6cb688a8d2c6ae18dd9ec7a5b102c",
    ("sales-leads", "tool_grant"): "5ea15133e6429c5cebb4c0ad8afd8a58bc5a4b4f7ab8a43cb29f4d688580fec6",
    ("support-triage", "impact_assessment"): "a55b47464bcac1a9dbb2478770d8977b003e0f678d15ea16d299aa850b9f67e3",
    # The compliance demo's scope expansion, denied by the board with multi-factor sign-in (issue 21).
    ("support-triage", "tool_grant"): "820c1d649a33f55bf50a74f89edc2ede09cbbf4cdaeb6295ab1f1ea6c971295a",
    # The compliance demo's version 1.2, applied through the tier-1 checklist and two approvers (issue 21).
    ("support-triage", "new_version"): "6d9fbc4b48eaf283f82808e91e4f7aa7b6ab3abb6ae517054d31f56c9f9d37c5",
    ("support-triage", "runtime_action"): "dbbb5a1142e96c9e58d2a1f8821315ae7a8fb714f412be9a3b6f848be586f6c7",
    # Fleet-wide (no agent): the demo shadow policy of payments.refund.
    ("", "action_policy_shadow"): "7d0d2111125220bc30412fa27f544f23e5e59726b639d0fe02b7c8e72eb637b0",
}

# Payloads outside the demo that exercise the options that differed between the old copies:
# non-ASCII text (ensure_ascii), nested key order, and values JSON cannot encode natively.
EDGE_PAYLOADS = [
    {"note": "Zürich — café ✓", "b": [2, {"y": 1, "x": "ü"}], "a": None},
    {"share_pct": "12.50", "label": "1.4", "bundle_digest": "0" * 64, "version_id": 7},
]
EDGE_PAYLOAD_HASHES = [
    "5f7a18ee94980acbe587a470c8099ad354d6b2433ddeaf243844b45b510ea217",
    "a589adf7719898514c090c2a0364f3bf1fca2a8a126b87630818158f3eedb544",
]

# A bundle with non-ASCII in its pinned configuration (no grants: the version is unsaved).
EDGE_BUNDLE = {
    "model_provider": "Mistral",
    "model_name": "mistral-large-été",
    "prompt_ref": "sha256:ü",
    "policy_version": "2",
}
EDGE_BUNDLE_DIGEST = "7a5c5d770972b60301ec0464c79c312d935a0656113629ba4d7bafb2cef93e8f"

PINNED_UUID = "00000000-0000-0000-0000-000000000001"


def _pinned(payload: dict) -> dict:
    """The payload with database-assigned ids replaced by fixed values."""
    pinned = dict(payload)
    for key in ("version_id", "base_version_id"):
        if key in pinned:
            pinned[key] = 1
    if "action_request" in pinned:
        pinned["action_request"] = PINNED_UUID
    # An impact assessment's request names its row and a date a year from the seeding day.
    if "assessment_id" in pinned:
        pinned["assessment_id"] = 1
        pinned["valid_until"] = "2000-01-01"
    return pinned


@pytest.fixture(scope="module")
def demo(demo_seeded_for_module):
    """Both demo tests only read: the demo is seeded once for the file."""


def test_it_keeps_the_demo_bundle_digests(demo):
    versions = AgentVersion.objects.select_related("agent").order_by("agent__slug", "label")
    found = {(v.agent.slug, v.label): v.bundle_digest for v in versions}
    assert found == DEMO_BUNDLE_DIGESTS
    for version in versions:
        assert version.compute_bundle_digest() == version.bundle_digest


def test_it_keeps_the_demo_payload_hashes(demo):
    # Two requests of one kind for one agent (a FRIA and a DPIA): the later one is the one kept.
    requests = list(ApprovalRequest.objects.select_related("agent").order_by("agent__slug", "kind", "pk"))
    found = {(r.agent.slug if r.agent else "", r.kind): payload_hash_compute(_pinned(r.payload)) for r in requests}
    assert found == DEMO_PAYLOAD_HASHES
    for req in requests:
        assert payload_hash_compute(req.payload) == req.payload_hash


def test_it_keeps_the_canonical_form_of_edge_payloads():
    found = [payload_hash_compute(p) for p in EDGE_PAYLOADS]
    bundle = AgentVersion(**EDGE_BUNDLE).compute_bundle_digest()
    assert found == EDGE_PAYLOAD_HASHES
    assert bundle == EDGE_BUNDLE_DIGEST


def test_it_hashes_a_uuid_and_a_decimal_as_their_text():
    # The action gate's fingerprints hold UUIDs and Decimals; they hash as their str().
    value = {"id": uuid.UUID(PINNED_UUID), "amount": Decimal("12.50"), "name": "Zoë"}
    assert canonical_json(value) == '{"amount":"12.50","id":"00000000-0000-0000-0000-000000000001","name":"Zoë"}'
