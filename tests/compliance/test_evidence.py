"""Framework mapping with live evidence: the catalogue as data, each query's records on the demo
data, missing controls with their reasons, the pages, the SoA export and the evidence pack."""

import io
import json
import re
import zipfile
from datetime import timedelta

import pytest
from django.utils import timezone

from approvals.models import ApprovalRequest, Decision
from compliance.catalogue import catalogue_load
from compliance.evidence import EVIDENCE_QUERIES, controls_status, evidence_query
from compliance.models import KillSwitchDrill, SeriousIncident
from incidents.models import Incident
from registry.models import Agent, AgentVersion
from telemetry.models import Run
from trail.models import ChainVerification

pytestmark = pytest.mark.django_db

ROLES = ["board_user", "approver_user", "owner_user", "operator_user", "executive_user", "auditor_user"]
PORTFOLIO_ROLES = {"board_user", "auditor_user"}


def test_the_catalogue_is_data_with_sources_and_covers_the_issue():
    catalogue = catalogue_load()
    refs = {c.ref for c in catalogue.controls if c.framework == "eu_ai_act"}
    assert {f"Art. {n}" for n in (9, 10, 12, 13, 14, 15, 17, 19, 26, 27, 72, 73)} <= refs
    nist = {c.ref for c in catalogue.controls if c.framework == "nist_ai_rmf"}
    assert {"GOVERN 1.6", "MANAGE 2.4", "MANAGE 4.3"} <= nist
    assert any(c.framework == "iso_42001" for c in catalogue.controls)
    assert {c.source for c in catalogue.controls} <= set(catalogue.sources)
    assert all(s["url"].startswith("https://") for s in catalogue.sources.values())
    art14 = next(c for c in catalogue.controls if c.ref == "Art. 14")
    assert set(art14.evidence) == {"approval_decisions", "kill_switch_drills", "step_up_assurance"}
    art12 = next(c for c in catalogue.controls if c.ref == "Art. 12")
    assert set(art12.evidence) == {"chain_verification", "log_retention"}
    named = {name for c in catalogue.controls for name in c.evidence}
    assert named <= set(EVIDENCE_QUERIES)


def test_a_control_without_evidence_is_listed_as_missing_with_the_reason(agent):
    statuses = {s.control.id: s for s in controls_status(agent=agent)}
    art14 = statuses["EU-AIA-14"]
    assert art14.status == "missing"
    reasons = " ".join(art14.missing_reasons)
    assert "No approval decision with a reason on Support Triage" in reasons
    assert "No kill-switch drill of Support Triage measured in the last year" in reasons
    assert "multi-factor" in reasons
    assert statuses["EU-AIA-12"].results["chain_verification"].missing == "The audit chain has never been verified."
    outside = statuses["ISO-A.7.2"]
    assert outside.status == "outside" and "training data" in outside.missing_reasons[0]


def test_a_query_the_catalogue_names_but_quorum_lacks_is_missing_with_the_reason(agent):
    saved = EVIDENCE_QUERIES.pop("fundamental_rights_assessment")
    try:
        statuses = {s.control.id: s for s in controls_status(agent=agent)}
    finally:
        EVIDENCE_QUERIES["fundamental_rights_assessment"] = saved
    assert statuses["EU-AIA-27"].status == "missing"
    assert "No evidence query named 'fundamental_rights_assessment'" in statuses["EU-AIA-27"].missing_reasons[0]
    art27 = {s.control.id: s for s in controls_status(agent=agent)}["EU-AIA-27"]
    assert art27.missing_reasons == ["No approved, current fundamental-rights impact assessment for Support Triage."]


def test_partial_when_one_query_of_a_control_finds_records(agent):
    ChainVerification.objects.create(ok=True, entries_checked=10, first_seq=1, head_seq=10)
    with _swapped("log_retention", lambda agent: controls_status.__globals__["EvidenceResult"](missing="none kept")):
        art12 = {s.control.id: s for s in controls_status(agent=agent)}["EU-AIA-12"]
    assert art12.status == "partial" and art12.missing_reasons == ["none kept"]
    assert art12.results["chain_verification"].records[0].label.startswith("Audit chain verified")


class _swapped:
    def __init__(self, name, query):
        self.name, self.query = name, query

    def __enter__(self):
        self.saved = EVIDENCE_QUERIES[self.name]
        evidence_query(self.name)(self.query)

    def __exit__(self, *exc):
        EVIDENCE_QUERIES[self.name] = self.saved


@pytest.fixture(scope="module")
def demo(demo_seeded_for_module, django_db_blocker):
    with django_db_blocker.unblock():
        return Agent.objects.get(slug="support-triage")


def _labels(result):
    return [r.label for r in result.records]


def test_each_query_returns_the_right_records_on_the_demo_data(demo):
    agent = demo
    q = EVIDENCE_QUERIES
    since = timezone.now() - timedelta(days=30)
    # Counts equal the records' own tables, scoped to the agent.
    assert q["run_monitoring"](agent).count == Run.objects.filter(agent=agent, started_at__gte=since).count() > 0
    assert (
        q["approval_decisions"](agent).count == Decision.objects.filter(request__agent=agent).exclude(reason="").count()
    )
    applied = ApprovalRequest.objects.filter(agent=agent, kind__in=["go_live", "new_version"], status="applied")
    assert q["version_approvals"](agent).count == applied.count()
    assert (
        q["version_changelogs"](agent).count == AgentVersion.objects.filter(agent=agent).exclude(changelog="").count()
    )
    assert q["incident_response"](agent).count == Incident.objects.filter(agent=agent).count()
    # The demo's drill of support-triage is Art. 14 / MANAGE 2.4 evidence, linked to its page.
    drill = KillSwitchDrill.objects.get(agent=agent)
    drills = q["kill_switch_drills"](agent)
    assert drills.count == 1 and drills.records[0].url == f"/compliance/drills/{drill.pk}/"
    assert "850 ms" in drills.records[0].label
    inventory = q["agent_inventory"](agent)
    assert inventory.count == 1 and inventory.records[0].url == agent.get_absolute_url()
    retention = q["log_retention"](agent)
    assert retention.found and all("kept" in label for label in _labels(retention))
    # The serious incident of the demo (churn-outreach) was reported in time; support-triage has none.
    churn = Agent.objects.get(slug="churn-outreach")
    serious = SeriousIncident.objects.get(incident__agent=churn)
    reports = q["serious_incident_reports"](churn)
    assert reports.count == 1 and str(serious.incident_id) in reports.records[0].url
    assert "no Art. 73 report due" in q["serious_incident_reports"](agent).records[0].label
    # Portfolio scope sees every agent's records.
    assert q["run_monitoring"](None).count == Run.objects.filter(started_at__gte=since).count()
    assert q["kill_switch_drills"](None).count == KillSwitchDrill.objects.count()


def test_the_demo_shows_an_agent_with_full_evidence_and_one_with_gaps(demo, client, auditor_user, board_user):
    full = {s.control.id: s for s in controls_status(agent=demo)}
    # Every control of support-triage is evidenced (or outside Quorum): no missing piece at all.
    gaps = {control_id: s.missing_reasons for control_id, s in full.items() if s.status not in ("evidenced", "outside")}
    assert gaps == {}
    for control_id in ("EU-AIA-12", "EU-AIA-14", "EU-AIA-9", "NIST-GOVERN-1.6", "NIST-MANAGE-2.4", "EU-AIA-72"):
        assert full[control_id].status == "evidenced", (control_id, full[control_id].missing_reasons)
    # Its version 1.2 went through the real two-person path: requested by the owner, the tier-1
    # checklist ticked by others, approved by an approver and a board member from outside the team.
    release = ApprovalRequest.objects.get(agent=demo, kind="new_version")
    assert release.status == "applied" and release.version.label == "1.2" and release.version.state == "approved"
    assert release.requester.username == "owner"
    assert not release.checklist.filter(done=False).exists()
    assert {d.approver.username for d in release.decisions.all()} == {"approver", "board"}
    assert release.decisions.filter(board_outside_team=True).exists()
    assert demo.deployed_version.label == "1.1"  # approved, not deployed: going live is its own request
    assert full["EU-AIA-17"].results["version_approvals"].found
    gaps_agent = Agent.objects.get(slug="hr-policy-qa")  # proposed: no runs, no drill, no evals
    gaps = {s.control.id: s for s in controls_status(agent=gaps_agent)}
    assert gaps["NIST-MANAGE-2.4"].status == "missing" and gaps["EU-AIA-72"].status == "missing"
    assert "No run of HR Policy" in " ".join(gaps["EU-AIA-72"].missing_reasons)
    # Every gap says why: each missing or partial control names what is missing.
    assert all(s.missing_reasons for s in gaps.values() if s.status in ("missing", "partial"))
    client.force_login(auditor_user)
    page = client.get(f"/compliance/frameworks/agents/{gaps_agent.slug}/").content.decode()
    assert 'data-status="missing"' in page and "No kill-switch drill" in page
    # Every evidence link on the portfolio page opens for those who see the page.
    for user in (auditor_user, board_user):
        client.force_login(user)
        page = client.get("/compliance/frameworks/")
        assert page.status_code == 200
        links = set(re.findall(r'href="(/[^"#]*)', page.content.decode()))
        assert len(links) > 20
        for link in sorted(links):
            assert client.get(link).status_code < 400, (user.username, link)


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reaches_the_pages_it_may_and_is_refused_the_others(client, request, agent, role):
    user = request.getfixturevalue(role)
    client.force_login(user)
    portfolio = client.get("/compliance/frameworks/")
    assert portfolio.status_code == (200 if role in PORTFOLIO_ROLES else 403)
    assert client.get("/compliance/frameworks/soa/").status_code == (200 if role in PORTFOLIO_ROLES else 403)
    assert client.get("/compliance/frameworks/soa.csv").status_code == (200 if role in PORTFOLIO_ROLES else 403)
    mapping = client.get(f"/compliance/frameworks/agents/{agent.slug}/")
    assert mapping.status_code in (200, 404)
    assert client.get("/compliance/drills/").status_code == 200
    assert client.get("/compliance/frameworks/agents/no-such-agent/").status_code == 404
    assert client.get("/compliance/serious/999999/").status_code in (403, 404)


def test_bad_filter_input_is_a_clear_400(client, auditor_user):
    client.force_login(auditor_user)
    response = client.get("/compliance/frameworks/?framework=bogus")
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    assert client.get("/compliance/frameworks/?framework=nist_ai_rmf").status_code == 200


def test_the_statement_of_applicability_exports_iso_controls_as_csv(client, auditor_user, agent):
    client.force_login(auditor_user)
    response = client.get("/compliance/frameworks/soa.csv")
    text = response.content.decode()
    assert response["Content-Type"].startswith("text/csv")
    lines = text.strip().splitlines()
    assert lines[0] == "control,title,applicable,justification,status,evidence,gaps"
    iso = [c for c in catalogue_load().controls if c.framework == "iso_42001"]
    assert len(lines) == 1 + len(iso)
    assert any(line.startswith("A.7.2,") and ",no," in line for line in lines)


def test_the_evidence_pack_carries_the_mapping(agent):
    from reports.evidence import evidence_export

    out = io.BytesIO()
    evidence_export(out=out, agent=agent)
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as archive:
        mapping = json.loads(archive.read("compliance/framework_mapping.json"))
        manifest = json.loads(archive.read("manifest.json"))
    assert mapping["scope"] == agent.slug and mapping["catalogue_version"] == "1"
    assert {c["id"] for c in mapping["controls"]} == {c.id for c in catalogue_load().controls}
    assert "compliance/framework_mapping.json" in {f["path"] for f in manifest["files"]}


def test_evidence_links_are_shown_only_to_roles_that_may_open_them(demo, client, request):
    """The agent mapping page links evidence only where the viewer may open it (no 403 behind a
    link); other evidence is text naming who can open it. Checked for every role the crawl uses."""
    chain = ChainVerification.objects.order_by("-checked_at").first()
    assert chain is not None and chain.ok  # the demo verified the chain: the audit record is there
    for role in ROLES:
        user = request.getfixturevalue(role)
        client.force_login(user)
        response = client.get(f"/compliance/frameworks/agents/{demo.slug}/")
        assert response.status_code == 200, role
        html = response.content.decode()
        links = set(re.findall(r'href="(/[^"#]*)', html))
        assert ('href="/audit/"' in html) == user.has_perm("registry.view_auditentry"), role
        if not user.has_perm("registry.view_auditentry"):
            assert "(open to auditors and the governance board)" in html, role
        if not user.has_perm("incidents.view_incident"):
            assert not any(link.startswith("/incidents/") for link in links), role
        for link in sorted(links):
            assert client.get(link).status_code < 400, (role, link)
