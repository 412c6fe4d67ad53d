"""Issue 13, item 7: every door to a governed field, enumerated, stays shut.

Nothing here names a form, a view or a field. The governed fields come from their declaration
(``registry.governance.governed_fields``); the write paths come from the URL configuration:

* every console page (no ``/admin/``, no ``/api/``) is fetched as a superuser and every POST form
  on it is submitted back with one governed field changed at a time (the form's own values
  otherwise), then the URL itself is POSTed with the same value (views that take POST only);
* every admin add and change page of a model is submitted back the same way (inline rows
  included: a control named ``versions-0-state`` is the ``state`` field);
* every API endpoint gets POST, PUT and PATCH with each governed field, as the superuser and as
  an agent with its own key.

After each request, every governed value of every row is what it was (new rows hold the defaults
of the fields not settable on create) and no request was applied — nobody approved anything. A
new governed field or a new write view is covered without editing this module.

The same module checks the other half of the rule: every request kind that can lower a control
needs two distinct approvers, neither of them the requester, whatever the approval policy says.
"""

from __future__ import annotations

import json
import re
import warnings
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.exceptions import NoReverseMatch

from approvals.kinds import kind_get, kinds_all
from approvals.models import ApprovalPolicy, ApprovalRequest
from approvals.services import policy_requirements
from registry import roles
from registry.governance import (
    RELEASE_AND_GRANT_KINDS,
    governed_fields,
    governed_models,
    governed_value_current,
)
from registry.models import Agent, GlobalControls, Scope
from registry.services import agent_grant_owner_rights, agent_key_issue
from tests.factories import AgentFactory, AgentVersionFactory, TeamFactory, ToolFactory, ToolGrantFactory, UserFactory

pytestmark = pytest.mark.django_db

# Pages that end the superuser's session or stream files: nothing to submit there.
NOT_A_FORM = ("logout", "login", "api-schema", "api-docs", "jsi18n", "view_on_site")
# The one sanctioned single-person path (issue 13, item 5, approvals.break_glass): a superuser applies
# a pending request at once, audited, and two others must confirm it afterwards. Not a door.
BREAK_GLASS = ("break_glass",)


# --- the world the doors open onto -------------------------------------------------------------


@pytest.fixture
def world(db):
    """A tier-1 pilot agent at its tightest (side effects off, a sponsor, one data source, a
    confidential classification), its deployed version with a tier-3 tool granted under a cap,
    a draft, the fleet switch off; and alternatives for every relation (another team, person,
    scope, tool), so each governed field has somewhere to move."""
    root = UserFactory(username="root", is_staff=True, is_superuser=True, roles=list(roles.ALL_ROLES))
    owner = UserFactory(username="door-owner", roles=[roles.AGENT_OWNER])
    team = TeamFactory(slug="door-team", name="Door team")
    TeamFactory(slug="other-team", name="Other team")
    UserFactory(username="someone-else")
    source = Scope.objects.create(name="Tickets", kind="data_source")
    Scope.objects.create(name="Payroll", kind="data_source")
    Scope.objects.create(name="Payments", kind="system")
    agent = AgentFactory(
        slug="door-agent",
        owner=owner,
        owner_team=team,
        sponsor=owner,
        risk_tier=1,
        status="pilot",
        data_classification="confidential",
        side_effects_enabled=False,
    )
    agent.data_sources.add(source)
    agent_grant_owner_rights(agent=agent)
    tool = ToolFactory(name="payments.refund", action_tier=3)
    ToolFactory(name="kb.search", action_tier=0)
    deployed = AgentVersionFactory(agent=agent, label="1.0", state="draft")
    ToolGrantFactory(version=deployed, tool=tool, constraints={"max_amount_usd": 50})
    type(deployed).objects.filter(pk=deployed.pk).update(state="deployed")
    AgentVersionFactory(agent=agent, label="2.0", state="draft")
    GlobalControls.objects.update_or_create(pk=1, defaults={"side_effects_enabled": False})
    _key, secret = agent_key_issue(agent=agent, name="door key")
    return {"root": root, "agent": agent, "secret": secret}


def _snapshot() -> dict:
    """Every governed value of every row, in payload form."""
    values = {}
    for model in governed_models():
        names = [g.field for g in governed_fields if g.model is model]
        for obj in model.objects.all():
            for name in names:
                values[(model._meta.label, obj.pk, name)] = governed_value_current(obj, name)
    return values


def _assert_shut(before: dict, door: str) -> None:
    after = _snapshot()
    for key, value in before.items():
        assert after.get(key, value) == value, f"{door} changed {key[0]}#{key[1]}.{key[2]}: {value!r} -> {after[key]!r}"
    for governed in governed_fields:
        if governed.on_create:
            continue
        default = governed.model._meta.get_field(governed.field).get_default()
        default = governed_value_current(governed.model(**{governed.field: default}), governed.field)
        for (label, pk, name), value in after.items():
            if (label, pk, name) not in before and label == governed.model._meta.label and name == governed.field:
                assert value == default, f"{door} created {label}#{pk} with {name}={value!r}"
    assert not ApprovalRequest.objects.filter(status="applied").exists(), f"{door} applied a request"


# --- values that differ from today's ------------------------------------------------------------


def _alternatives(governed) -> list:
    """Values of the governed field other than the fixture's, in payload form: every other
    choice, the other boolean, another related row, one more many-to-many row, another number."""
    model_field = governed.model._meta.get_field(governed.field)
    obj = governed.model.objects.order_by("pk").first()
    current = governed_value_current(obj, governed.field) if obj else None
    if model_field.choices:
        return [value for value, _label in model_field.flatchoices if value != current]
    if model_field.get_internal_type() == "BooleanField":
        return [not current]
    if model_field.many_to_many:
        others = model_field.related_model.objects.exclude(pk__in=current or []).values_list("pk", flat=True)[:1]
        return [sorted([*(current or []), *others])]
    if model_field.is_relation:
        other = model_field.related_model.objects.exclude(pk=current).order_by("pk").first()
        return [other.pk] if other else []
    if model_field.get_internal_type() == "DecimalField":
        return ["0" if Decimal(current or 0) != 0 else "1"]
    if model_field.get_internal_type() == "JSONField":
        return [{} if current else {"max_amount_usd": 1}]
    if model_field.get_internal_type().endswith("IntegerField"):
        return [int(current) - 1 if current and int(current) > 1 else int(current or 0) + 1]
    if model_field.get_internal_type() in ("CharField", "TextField"):
        return ["" if current else "allow if true"]
    return []


def _as_form_value(value):
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, dict):
        return json.dumps(value)
    return "on" if value is True else str(value)


# --- the URL configuration, walked --------------------------------------------------------------


def _url_patterns(resolver=None, prefix="", namespace=""):
    """(qualified name, kwarg names, callback) of every named URL."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _url_patterns(entry, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern) and entry.name:
            names = set(entry.pattern.regex.groupindex)
            yield f"{namespace}{entry.name}", names, entry.callback


def _fill(kwarg_names: set[str], callback, agent: Agent) -> dict | None:
    """Concrete arguments: the fixture agent for a slug, the governed row of an admin's model
    (or its first row), the first row's key otherwise; None when nothing fits."""
    kwargs = {}
    model_admin = getattr(callback, "model_admin", None)
    for name in kwarg_names:
        if name == "slug":
            kwargs[name] = agent.slug
        elif name == "object_id" and model_admin is not None:
            row = model_admin.model.objects.order_by("pk").first()
            if row is None:
                return None
            kwargs[name] = str(row.pk)
        elif name == "kind":
            kwargs[name] = "tier_change"
        elif name in ("pk", "item_pk"):
            kwargs[name] = 1
        else:
            return None
    return kwargs


def _write_urls(agent: Agent) -> list[tuple[str, str, object]]:
    urls = []
    for name, kwarg_names, callback in _url_patterns():
        short = name.split(":")[-1]
        if short in NOT_A_FORM + BREAK_GLASS or name.endswith(("_delete", "_history", "_password_change")):
            continue
        kwargs = _fill(kwarg_names, callback, agent)
        if kwargs is None:
            continue
        try:
            urls.append((name, reverse(name, kwargs=kwargs), callback))
        except NoReverseMatch:
            continue
    return urls


class _FormScraper(HTMLParser):
    """The POST forms of a page, each as (action, {name: value or [values]}) as a browser would
    submit them unchanged."""

    def __init__(self):
        super().__init__()
        self.forms: list[tuple[str, dict]] = []
        self._form = None
        self._select = None
        self._textarea = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._form = (a.get("action") or "", {}) if (a.get("method") or "").lower() == "post" else None
            return
        if tag == "option" and self._select is not None and "selected" in a:
            self._select[2].append(a.get("value", ""))
        if self._form is None or "name" not in a:
            return
        data = self._form[1]
        if tag == "input":
            kind = (a.get("type") or "text").lower()
            if kind in ("submit", "button", "image", "file", "reset"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            data.setdefault(a["name"], []).append(a.get("value", "on"))
        elif tag == "select":
            self._select = (a["name"], "multiple" in a, [])
        elif tag == "textarea":
            self._textarea = a["name"]
            data.setdefault(a["name"], []).append("")

    def handle_data(self, text):
        if self._form is not None and self._textarea is not None:
            self._form[1][self._textarea][-1] += text

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None
        elif tag == "select" and self._select is not None and self._form is not None:
            name, _multiple, chosen = self._select
            self._form[1].setdefault(name, []).extend(chosen)
            self._select = None
        elif tag == "form" and self._form is not None:
            self.forms.append(self._form)
            self._form = None


def _scrape(html: str) -> list[tuple[str, dict]]:
    parser = _FormScraper()
    parser.feed(html)
    return parser.forms


def _attacks() -> list[tuple[str, object]]:
    """(field name, changed value) for every governed field and each of its alternatives."""
    return [(g.field, value) for g in governed_fields for value in _alternatives(g)]


def _controls_for(data: dict, field: str) -> list[str]:
    """The form's controls for ``field``: itself, or an inline row's ``<prefix>-N-field``."""
    return [k for k in data if k == field or k.endswith(f"-{field}")]


def _with(data: dict, changes: list[tuple[str, object]]) -> dict:
    """The form's data with each ``(field, value)`` set (added when the form has no such control)."""
    changed = {k: list(v) for k, v in data.items()}
    for field, value in changes:
        for key in _controls_for(data, field) or [field]:
            if value is False:
                changed.pop(key, None)  # an unticked box is absent
            else:
                form_value = _as_form_value(value)
                changed[key] = form_value if isinstance(form_value, list) else [form_value]
    return changed


def _submissions(data: dict, attacks: list[tuple[str, object]]) -> list[tuple[str, dict]]:
    """What to post for one form: each governed field the form shows, changed alone, for each
    alternative value; then every other governed field added at once (a view reading
    ``request.POST`` directly would take them)."""
    shown = [(field, value) for field, value in attacks if _controls_for(data, field)]
    first_absent = {}
    for field, value in attacks:
        if not _controls_for(data, field):
            first_absent.setdefault(field, value)
    submissions = [(f"{field}={value!r}", _with(data, [(field, value)])) for field, value in shown]
    if first_absent:
        submissions.append((f"added {sorted(first_absent)}", _with(data, list(first_absent.items()))))
    return submissions


# --- the doors ------------------------------------------------------------------------------------


def test_no_console_form_or_admin_page_writes_a_governed_field(client, world):
    root, agent = world["root"], world["agent"]
    attacks = _attacks()
    assert {g.field for g in governed_fields} <= {field for field, _ in attacks}, "a governed field has no value to try"
    exercised, seen = set(), set()
    skipped = {reverse(name) for name in ("logout", "login", "admin:logout")}
    before = _snapshot()
    client.raise_request_exception = False  # a crash is not a door; it is reported below
    crashed = []
    for name, url, _callback in _write_urls(agent):
        if name.startswith("api") or url.startswith("/api/"):
            continue
        client.force_login(root)
        page = client.get(url)
        forms = _scrape(page.content.decode(errors="replace")) if page.status_code == 200 else []
        # The URL itself too (views that take POST only), then each form on the page.
        targets = [(url, {}), *((urljoin(url, action) if action else url, data) for action, data in forms)]
        for action, data in targets:
            # A form met on every page (the navigation's) is submitted once.
            key = (action.split("?")[0], frozenset(data))
            if action.split("?")[0] in skipped or key in seen:
                continue
            seen.add(key)
            for what, submission in _submissions(data, attacks):
                client.force_login(root)
                response = client.post(action, submission)
                _assert_shut(before, f"POST {action} ({name}) with {what}")
                if response.status_code >= 500:
                    crashed.append(f"POST {action} with {what}")
        exercised.add(name)
    if crashed:
        warnings.warn("5xx on governed-field input (not a door, still a bug): " + "; ".join(crashed[:5]), stacklevel=1)
    # The doors the issue found are among those walked (the walk is not vacuous).
    assert {"registry:agent_edit", "registry:agent_create", "admin:registry_agent_change"} <= exercised
    assert {"admin:registry_tool_change", "admin:registry_agentversion_change", "admin:registry_toolgrant_change"} <= (
        exercised
    )


def test_no_api_method_writes_a_governed_field(client, world):
    from rest_framework.test import APIClient

    root, agent = world["root"], world["agent"]
    as_agent = APIClient()
    as_agent.credentials(HTTP_AUTHORIZATION=f"Bearer {world['secret']}")
    as_root = APIClient()
    as_root.force_authenticate(root)
    attacks = _attacks()
    api_urls = [(name, url) for name, url, _cb in _write_urls(agent) if url.startswith("/api/")]
    assert api_urls, "no API URL found"
    before = _snapshot()
    for name, url in api_urls:
        for api in (as_root, as_agent):
            # The fields each method's serializer takes (DRF's OPTIONS metadata): each governed one
            # alone with every alternative, the others all at once (an unknown field must not count).
            writable = api.options(url).json().get("actions", {}) if api.options(url).status_code == 200 else {}
            for method in ("post", "put", "patch"):
                fields = set(writable.get(method.upper(), {})) | set(writable.get("PUT", {}))
                for what, body in _api_bodies(fields, attacks):
                    getattr(api, method)(url, {"agent": agent.slug, **body}, format="json")
                    _assert_shut(before, f"{method.upper()} {url} ({name}) with {what}")


def _api_bodies(fields: set[str], attacks: list[tuple[str, object]]) -> list[tuple[str, dict]]:
    """JSON bodies for one endpoint: each governed field it takes, alone, with every alternative;
    every other governed field added at once."""
    bodies = [(f"{field}={value!r}", {field: value}) for field, value in attacks if field in fields]
    absent = {}
    for field, value in attacks:
        if field not in fields:
            absent.setdefault(field, value)
    if absent:
        bodies.append((f"added {sorted(absent)}", absent))
    return bodies


# --- two people for whatever lowers a control ----------------------------------------------------


def test_every_kind_named_for_a_governed_field_is_registered():
    for governed in governed_fields:
        assert kind_get(governed.kind).value == governed.kind, f"{governed}: no kind {governed.kind!r}"


def test_every_kind_that_can_lower_a_control_needs_two_distinct_approvers(db):
    """Lowering kinds: those marked ``lowers_control``, and every kind a governed field names
    except the ones that only raise or release (``registry.governance.RELEASE_AND_GRANT_KINDS``)."""
    lowering = {spec.value for spec in kinds_all() if spec.lowers_control}
    named = {g.kind for g in governed_fields} - set(RELEASE_AND_GRANT_KINDS)
    assert named <= lowering, f"governed kinds not marked as lowering a control: {sorted(named - lowering)}"
    # Whatever the admin-edited policy says (here: one approver everywhere), two it is.
    for tier in (1, 2, 3):
        ApprovalPolicy.objects.update_or_create(kind="", risk_tier=tier, defaults={"required_approvals": 1})
    for value in lowering:
        spec = kind_get(value)
        assert spec.min_approvals >= 2, value
        for tier in (1, 2, 3):
            assert policy_requirements(spec=spec, tier=tier)["required_approvals"] >= 2, (value, tier)


def test_a_lowering_request_is_applied_only_by_two_people_other_than_the_requester(db, world):
    from guardian.shortcuts import assign_perm

    from approvals.exceptions import DecisionRefused
    from approvals.services import change_request_create, decision_record

    agent, owner = world["agent"], world["agent"].owner
    ApprovalPolicy.objects.update_or_create(kind="", risk_tier=1, defaults={"required_approvals": 1})
    req = change_request_create(
        agent=agent, kind="tier_change", payload={"risk_tier": 3}, requester=owner, justification="Lower it."
    )
    assign_perm("registry.approve_agent", owner)
    owner.groups.add(*type(owner.groups.first()).objects.filter(name=roles.APPROVER))

    def approve(user):
        decision_record(request_id=req.pk, approver=user, verdict="approve", reason="ok", payload_hash=req.payload_hash)

    with pytest.raises(DecisionRefused):
        approve(owner)
    approve(UserFactory(username="board-1", roles=[roles.GOVERNANCE_BOARD]))
    assert Agent.objects.get(pk=agent.pk).risk_tier == 1
    approve(UserFactory(username="board-2", roles=[roles.GOVERNANCE_BOARD]))
    assert Agent.objects.get(pk=agent.pk).risk_tier == 3


def test_the_readme_lists_exactly_what_is_governed():
    """The README's Approvals section names every governed field with its kind, and nothing more."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    listed = set()
    for line in readme.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`") and "." in cells[0] and cells[2].startswith("`"):
            label, kind = cells[0].strip("`"), cells[2].strip("`")
            for name in re.findall(r"`([a-z_]+)`", cells[1]):
                listed.add((label, name, kind))
    declared = {(g.model._meta.label, g.field, g.kind) for g in governed_fields}
    assert listed == declared
