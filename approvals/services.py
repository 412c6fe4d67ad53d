"""The approval engine: nothing risky happens to an agent on one person's word.

Who may decide (:func:`approver_refusal`, whose rule is :func:`approvals.eligibility.decide_refusal`),
how many must agree (:func:`policy_resolve` and :func:`approvals_tally`) and what happens once
enough have (:func:`_apply_if_ready`, through the kind's effect and the registry's services) live
here and nowhere else. Every state change locks the request row (``select_for_update``) inside one
transaction, so two approvers clicking at the same instant on two web nodes serialise, and the
effect is applied exactly once.

Extension point (runtime action requests and any other app's kinds)
--------------------------------------------------------------------
A kind is a :class:`approvals.kinds.KindSpec`: a payload normaliser, an effect applier run inside
the locked transaction, a diff for the request page, a floor of approvers (``min_approvals``),
optionally its own ``eligible_roles``, ``ttl`` and ``policy_tier``. Register it from your
``AppConfig.ready()`` with :func:`approvals.kinds.register_kind`, then create requests with
:func:`request_create` (no requester-permission check; ``requester`` may be None for an agent
asking at runtime, and ``policy`` may override the resolved snapshot, e.g. a tool rule that says
"two approvers from the Approver role"). Decisions then go through :func:`decision_record` like
any change request, with the same eligibility, two-person rule, reasons, hash binding,
immutability and exactly-once application. Keep a pointer from your own model to the
``ApprovalRequest`` (a OneToOne) to read its status.

Cross-app hooks (:mod:`approvals.extensions`, registered from the upper apps' ``ready()``)
------------------------------------------------------------------------------------------
* ``request_created_hooks``: callables ``(request) -> None`` run **inside** the creating
  transaction, after the checklist rows exist and the request row is locked by it (so a hook may
  call :func:`checklist_item_tick`). An exception in a hook aborts the creation.
* ``apply_gates``: callables ``(request) -> str | None`` asked just before an approved
  request is applied; a string keeps the request approved-but-blocked with that reason shown.
  Applying is retried on :func:`request_apply` ("Apply now"), on every checklist tick and by
  the beat task ``approvals.tasks.retry_blocked_requests``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.postgres.expressions import ArraySubquery
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Case, CharField, Exists, F, Func, OuterRef, Subquery, Value, When
from django.utils import timezone

from registry import roles as role_names
from registry.assurance import NO_ASSURANCE, Assurance
from registry.audit import acting_as, audit_baseline, audit_batch, audit_record, audited_save
from registry.canonical import canonical_json, canonical_sha256
from registry.models import Agent, AgentVersion, ExternalIdentity, GlobalControls
from registry.permissions import user_can_approve_for_agent, user_has_agent_perm
from registry.selectors import user_display_name

from .choices import ChecklistKey, RequestStatus, Verdict, checklist_keys_for_tier
from .eligibility import (
    decide_refusal,
    is_board_outside_team,
    same_person_groups,
    step_up_needed,
    step_up_refusal,
)
from .exceptions import ApplyBlocked, DecisionRefused, RequestNotFound, RequestRefused
from .extensions import apply_gates, request_created_hooks
from .kinds import KindSpec, kind_get
from .models import ApprovalPolicy, ApprovalRequest, ChecklistItem, Decision

MAX_JUSTIFICATION = 4000
MAX_REASON = 2000
MAX_EVIDENCE = 2000
MAX_PAYLOAD_CHARS = 16_000


# --- hashing and policy -------------------------------------------------------------------------


def payload_hash_compute(payload: dict) -> str:
    """The hash decisions bind to: SHA-256 of the payload's canonical JSON, so the same effect
    always hashes the same (:mod:`registry.canonical`)."""
    return canonical_sha256(payload)


def policy_resolve(*, agent: Agent, kind: str, payload: dict) -> dict:
    """What a new request needs: the policy row for (kind, tier), else the tier default, never
    less than one approver nor the kind's own floor. Tier 1 adds the board-outside-team rule."""
    spec = kind_get(kind)
    tier = spec.policy_tier(agent, payload) if spec.policy_tier else int(agent.risk_tier)
    return {**policy_requirements(spec=spec, tier=tier), "risk_tier": tier}


def policy_requirements(*, spec: KindSpec, tier: int) -> dict:
    """What a request of kind ``spec`` needs at ``tier``: the policy row for (kind, tier), else
    the tier's default row, else one approver (board outside the team on tier 1); never less
    than the kind's own floor nor one approver."""
    policy = (
        ApprovalPolicy.objects.filter(risk_tier=tier, kind__in=[spec.value, ""]).order_by("-kind").first()
    )  # "-kind": the kind's own row sorts before the blank default
    return {
        "policy_id": policy.pk if policy else None,
        "required_approvals": max(policy.required_approvals if policy else 1, spec.min_approvals, 1),
        "eligible_roles": list(spec.eligible_roles or (policy.eligible_roles if policy else [role_names.APPROVER])),
        "board_outside_team": bool(policy.require_board_outside_team) if policy else tier == 1,
        "checklist": checklist_keys_for_tier(tier) if spec.has_checklist else [],
    }


def policy_describe(snapshot: dict, owner_team_name: str = "the owning team") -> str:
    n = snapshot["required_approvals"]
    text = "one approver who is not the requester" if n == 1 else f"{n} distinct approvers, none of them the requester"
    if snapshot.get("board_outside_team"):
        text += f"; at least one from the governance board outside {owner_team_name}"
    return text


# --- who may decide, and what the decisions add up to -------------------------------------------


def _user_roles(user) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


def approver_refusal(request: ApprovalRequest, user, roles: set[str] | None = None) -> str | None:
    """None if ``user`` may decide ``request``; otherwise the sentence saying why not. The rule
    is :func:`approvals.eligibility.decide_refusal`; this loads its facts for one request
    (``roles``: the user's role names when the caller already read them)."""
    signed_in = user is not None and user.is_authenticated
    if roles is None:
        roles = _user_roles(user) if signed_in else set()
    return decide_refusal(
        user,
        roles=roles if signed_in else set(),
        # A fleet-wide request (no agent): only approve_agent held for every agent counts.
        may_approve_agent=lambda: user_can_approve_for_agent(user, request.agent),
        requester_id=request.requester_id,
        eligible_roles=request.policy_snapshot.get("eligible_roles", []),
        agent_name=request.target_name,
    )


def step_up_reason(request: ApprovalRequest) -> str | None:
    """Why deciding ``request`` needs a fresh multi-factor sign-in (None: it does not); the rule
    is :func:`approvals.eligibility.step_up_needed`."""
    spec = kind_get(request.kind)
    return step_up_needed(
        risk_tier=request.policy_snapshot.get("risk_tier"),
        lowers_control=spec.lowers_control,
        kind_reason=spec.step_up(request) if spec.step_up else None,
    )


def decision_step_up_refusal(request: ApprovalRequest, assurance: Assurance) -> str | None:
    """None if this session's sign-in is strong and fresh enough to decide ``request``."""
    return step_up_refusal(step_up_reason(request), assurance)


@dataclass
class Tally:
    required: int
    approvals: list[Decision] = field(default_factory=list)
    stale_approvals: list[Decision] = field(default_factory=list)
    denials: list[Decision] = field(default_factory=list)
    needs_board_outside_team: bool = False
    has_board_outside_team: bool = False
    # Approvals grouped by person (approvals.eligibility.same_person_groups): two accounts that
    # share an e-mail, an identity-provider subject or a passkey are one person.
    people: list[list[Decision]] = field(default_factory=list)
    # Approvals on a still-open request by someone deactivated since: they no longer count.
    inactive_approvals: list[Decision] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.people)

    @property
    def merged(self) -> list[list[Decision]]:
        """The groups of more than one account: shown, since they count once."""
        return [group for group in self.people if len(group) > 1]

    @property
    def satisfied(self) -> bool:
        enough = self.count >= self.required
        return enough and (self.has_board_outside_team or not self.needs_board_outside_team)

    @property
    def summary(self) -> str:
        """ "1 of 2 approvals — approved by Alan Turing" (what the request page and the API say)."""
        text = f"{self.count} of {self.required} approval{'s' if self.required != 1 else ''}"
        if self.approvals:
            text += " — approved by " + ", ".join(user_display_name(d.approver) for d in self.approvals)
        for d in self.inactive_approvals:
            text += f"; {user_display_name(d.approver)}'s approval no longer counts (account deactivated)"
        for group in self.merged:
            names = " and ".join(user_display_name(d.approver) for d in group)
            text += f"; {names} count as one person (they share an identity)"
        if self.count >= self.required and self.needs_board_outside_team and not self.has_board_outside_team:
            text += "; still needs a governance-board member from outside the owning team"
        return text


def approvals_tally(request: ApprovalRequest, decisions: list[Decision] | None = None) -> Tally:
    """Approvals count only if they saw the current payload hash (hash binding), while their
    author's account is active (on an open request: a deactivated person's word is gone, the
    request needs another decider), and once per person: accounts that share an identity count
    as one (``same_person_groups``)."""
    if decisions is None:
        decisions = list(request.decisions.select_related("approver"))
    snap = request.policy_snapshot
    tally = Tally(required=snap["required_approvals"], needs_board_outside_team=snap.get("board_outside_team", False))
    for d in decisions:
        if d.verdict == Verdict.DENY:
            tally.denials.append(d)
        elif d.payload_hash != request.payload_hash:
            tally.stale_approvals.append(d)
        elif request.is_open and not d.approver.is_active:
            tally.inactive_approvals.append(d)
        else:
            tally.approvals.append(d)
            tally.has_board_outside_team |= d.board_outside_team
    if len(tally.approvals) > 1:  # one approval cannot be two people: no query for it
        _attach_external_identities(tally.approvals)
    tally.people = same_person_groups(tally.approvals)
    return tally


def _attach_external_identities(decisions: list[Decision]) -> None:
    """Give each decision its approver's identity-provider links (one query, none when they were
    read with the decisions): the e-mail addresses the IdP verified and the (issuer, subject)
    pairs, which ``identity_keys`` uses."""
    links: dict[int, list[tuple[str, str, str]]] = {}
    if all(hasattr(d, "approver_links") for d in decisions):  # read with the decisions (_identity_links)
        for d in decisions:
            links[d.approver_id] = [tuple(link) for link in d.approver_links]
    else:
        rows = ExternalIdentity.objects.filter(user_id__in={d.approver_id for d in decisions})
        for user_id, issuer, subject, email, verified in rows.values_list(
            "user_id", "issuer", "subject", "email", "email_verified"
        ):
            links.setdefault(user_id, []).append((issuer, subject, email if verified else ""))
    for d in decisions:
        mine = links.get(d.approver_id, [])
        d.verified_emails = [email for _, _, email in mine if email]
        d.idp_subjects = [f"{issuer}|{subject}" for issuer, subject, _ in mine]


# --- audit actor --------------------------------------------------------------------------------


def _identity_links(user_id) -> ArraySubquery:
    """A person's identity-provider links as one array column: [issuer, subject, verified e-mail
    or ""] per link, what ``_attach_external_identities`` reads, joined into another query."""
    links = ExternalIdentity.objects.filter(user_id=user_id).order_by("pk")
    verified_email = Case(When(email_verified=True, then=F("email")), default=Value(""))
    link = Func(
        F("issuer"),
        F("subject"),
        verified_email,
        template="ARRAY[%(expressions)s]",
        output_field=ArrayField(CharField()),
    )
    return ArraySubquery(links.values(link=link))


def _lock(request_id, exc=RequestNotFound, *, decider=None) -> ApprovalRequest:
    """The request, its row locked for the transaction. ``decider`` (a signed-in person about to
    decide) adds their role names and identity links to the same read (``decider_roles``,
    ``decider_links``), so deciding needs no separate query for either."""
    query = ApprovalRequest.objects.select_for_update(of=("self",)).select_related("agent__owner_team")
    # ``has_open_items`` rides along so applying needs no checklist query when nothing is open
    # (ticks lock this same row, so the answer cannot go stale inside the transaction); the fleet
    # switch so the apply's facts need no query of their own (a switch pulled in the instant
    # between this read and the apply is missed, as one pulled just after a separate read was).
    query = query.annotate(
        has_open_items=Exists(ChecklistItem.objects.filter(request=OuterRef("pk"), done=False)),
        fleet_side_effects_enabled=Subquery(GlobalControls.objects.filter(pk=1).values("side_effects_enabled")[:1]),
    )
    if decider is not None and getattr(decider, "is_authenticated", False):
        query = query.annotate(
            decider_roles=ArraySubquery(Group.objects.filter(user=decider.pk).values("name")),
            decider_links=_identity_links(decider.pk),
        )
    try:
        # of=("self",): a fleet-wide request has no agent, and PostgreSQL refuses FOR UPDATE on the
        # nullable side of the outer join select_related makes. audit_baseline: the row as locked
        # here is what auditlog's entries diff against.
        return audit_baseline(query.get(pk=int(request_id)))
    except (ApprovalRequest.DoesNotExist, TypeError, ValueError):
        raise exc(f"There is no approval request #{request_id}.", code="not_found") from None


def _closed_sentence(req: ApprovalRequest) -> str:
    if req.status == RequestStatus.EXPIRED:
        return f"This request expired on {req.expires_at:%Y-%m-%d %H:%M} UTC."
    if req.status == RequestStatus.WITHDRAWN:
        return "This request was withdrawn by its requester."
    return f"This request was already decided ({req.get_status_display().lower()})."


# --- creating -----------------------------------------------------------------------------------


def user_may_request(user, agent: Agent | None, kind: str) -> bool:
    """One of the kind's rights on the agent; for a fleet-wide kind (no agent), held globally."""
    spec = kind_get(kind)
    return any(user_has_agent_perm(user, codename, agent) for codename in spec.request_perms)


def change_request_create(
    *, agent: Agent, kind: str, payload: dict, requester, justification: str, version: AgentVersion | None = None
) -> ApprovalRequest:
    """A person proposes a change to an agent. They need one of the kind's rights on that agent
    (usually ``change_agent``; re-enabling side effects also accepts ``operate_agent``). The payload
    is validated per kind and hashed; the policy in force is snapshotted. Hooks in
    ``request_created_hooks`` run inside this transaction."""
    spec = kind_get(kind)
    if requester is None or not user_may_request(requester, agent, kind):
        target = agent.name if agent is not None else "the whole fleet"
        raise RequestRefused(f"You may not request changes to {target}.", code="permission_denied")
    return request_create(
        agent=agent,
        kind=kind,
        payload=payload,
        requester=requester,
        justification=justification,
        version=version,
        _spec=spec,
    )


def _target_locked(agent: Agent | None, spec: KindSpec) -> Agent | None:
    """The request's agent, its row locked for the rest of the creating transaction; None for a
    fleet-wide kind (which names no agent), and a refusal for any other kind without one."""
    if agent is not None:
        return Agent.objects.select_for_update(no_key=True).select_related("owner_team").get(pk=agent.pk)
    if not spec.fleet_wide:
        raise ValidationError({"agent": f"Name the agent this {spec.label.lower()} is for."})
    return None


def request_create(
    *,
    agent: Agent,
    kind: str,
    payload: dict,
    requester=None,
    justification: str,
    version: AgentVersion | None = None,
    policy: dict | None = None,
    expires_at: datetime | None = None,
    _spec: KindSpec | None = None,
) -> ApprovalRequest:
    """Create a request of any registered kind without checking the requester's rights (the
    caller did). ``policy`` overrides the resolved snapshot's keys (never below one approver)."""
    spec = _spec or kind_get(kind)
    justification = (justification or "").strip()
    if not justification:
        raise ValidationError({"justification": "Say why this change is needed."})
    if len(justification) > MAX_JUSTIFICATION:
        raise ValidationError({"justification": f"Keep the justification under {MAX_JUSTIFICATION} characters."})
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise ValidationError({"payload": "The payload must be a JSON object."})
    if len(canonical_json(payload)) > MAX_PAYLOAD_CHARS:
        raise ValidationError({"payload": f"The payload is limited to {MAX_PAYLOAD_CHARS} characters of JSON."})
    with transaction.atomic(), acting_as(requester):
        agent = _target_locked(agent, spec)
        canonical, version = spec.normalize(agent, payload, version)
        snapshot = policy_resolve(agent=agent, kind=kind, payload=canonical)
        if policy:
            snapshot.update(policy)
            snapshot["required_approvals"] = max(int(snapshot["required_approvals"]), spec.min_approvals, 1)
        digest = payload_hash_compute(canonical)
        open_same = ApprovalRequest.objects.filter(
            agent=agent, kind=kind, payload_hash=digest, status__in=[RequestStatus.PENDING, RequestStatus.APPROVED]
        ).first()
        if open_same is not None:
            raise RequestRefused(
                f"The same change is already requested (#{open_same.pk}, {open_same.get_status_display().lower()}).",
                code="duplicate",
            )
        try:
            with transaction.atomic():
                req = ApprovalRequest.objects.create(
                    kind=kind,
                    agent=agent,
                    version=version,
                    payload=canonical,
                    payload_hash=digest,
                    requester=requester,
                    justification=justification,
                    policy_snapshot=snapshot,
                    expires_at=expires_at or timezone.now() + (spec.ttl or settings.APPROVAL_REQUEST_TTL),
                )
        except IntegrityError:
            raise RequestRefused("The same change is already requested.", code="duplicate") from None
        for position, key in enumerate(snapshot["checklist"]):
            ChecklistItem.objects.create(request=req, key=key, position=position)
        if spec.on_create:
            spec.on_create(req)
        req = ApprovalRequest.objects.select_for_update().get(pk=req.pk)
        for hook in request_created_hooks:
            hook(req)
        req_id = req.pk
        transaction.on_commit(lambda: _enqueue("notify_request_created", req_id))
    return ApprovalRequest.objects.get(pk=req_id)


def request_payload_revise(*, request_id: int, actor, payload: dict) -> ApprovalRequest:
    """The requester may change a pending request's payload; approvals given to the earlier
    payload stop counting (they bound to its hash), and the approvers are told again."""
    with transaction.atomic(), acting_as(actor):
        req = _lock(request_id, RequestRefused)
        if req.requester_id != getattr(actor, "pk", None):
            raise RequestRefused("Only the requester may change a request.", code="permission_denied")
        if req.status != RequestStatus.PENDING:
            raise RequestRefused(_closed_sentence(req), code="already_decided")
        spec = kind_get(req.kind)
        canonical, version = spec.normalize(req.agent, payload, None)
        digest = payload_hash_compute(canonical)
        if digest == req.payload_hash:
            return req
        req.payload, req.payload_hash, req.version = canonical, digest, version
        req.save(update_fields=["payload", "payload_hash", "version", "updated_at"])
        transaction.on_commit(lambda: _enqueue("notify_request_created", req.pk))
    return req


# --- deciding -----------------------------------------------------------------------------------


def decision_record(
    *,
    request_id: int,
    approver,
    verdict: str,
    reason: str,
    payload_hash: str,
    assurance: Assurance = NO_ASSURANCE,
) -> Decision:
    """Record one approve or deny. Refused (``DecisionRefused``, nothing changed) when the request
    is unknown, closed or expired, the approver is the requester or not eligible for this agent,
    has already decided, gave no reason, saw a payload hash that is no longer current, or the
    request needs step-up and ``assurance`` (how the approver's session signed in,
    ``registry.assurance.current_assurance``) is not a fresh multi-factor sign-in. The decision
    keeps that assurance (method, time, level) whatever the request.

    One eligible deny ends the request. When the approvals bound to the current hash reach the
    snapshot's count (with the tier-1 board rule), the request is approved, and applied in the
    same transaction if its checklist is complete and no apply gate objects."""
    if verdict not in Verdict.values:
        raise DecisionRefused("Choose approve or deny.", code="invalid")
    reason = (reason or "").strip()
    # audit_batch: the decision's auditlog entries are inserted in one statement at the end, and
    # put on the chain in one more (the applying decision's statement budget).
    with transaction.atomic(), acting_as(approver), audit_batch():
        req = _lock(request_id, decider=approver)
        if req.status != RequestStatus.PENDING:
            raise DecisionRefused(_closed_sentence(req), code="already_decided")
        if req.expires_at <= timezone.now():
            raise DecisionRefused(
                f"This request expired on {req.expires_at:%Y-%m-%d %H:%M} UTC; nothing was recorded.", code="expired"
            )
        # The approver's roles and identity links (read with the request) and one read of the
        # request's decisions serve the eligibility check, the "already decided" check, the
        # decision row and the tally (the applying decision's statement budget,
        # tests/actions/test_decision_queries.py).
        roles = set(getattr(req, "decider_roles", None) or ())
        refusal = approver_refusal(req, approver, roles)
        if refusal:
            code = "own_request" if req.requester_id == getattr(approver, "pk", None) else "not_eligible"
            raise DecisionRefused(refusal, code=code)
        decisions = list(
            req.decisions.select_related("approver").annotate(approver_links=_identity_links(OuterRef("approver_id")))
        )
        if any(d.approver_id == approver.pk for d in decisions):
            raise DecisionRefused("You have already decided on this request.", code="already_decided")
        if not reason:
            raise DecisionRefused("A reason is required.", code="reason_required")
        if len(reason) > MAX_REASON:
            raise DecisionRefused(f"Keep the reason under {MAX_REASON} characters.", code="invalid")
        _refuse_stale_or_weak(req, payload_hash, assurance)
        decision = _decision_insert(req, approver, verdict, reason, payload_hash, assurance, roles)
        decision.approver_links = req.decider_links
        now = timezone.now()
        if verdict == Verdict.DENY:
            _close(req, RequestStatus.DENIED, now)
        elif approvals_tally(req, [*decisions, decision]).satisfied:
            req.status = RequestStatus.APPROVED
            req.decided_at = now
            # Approved and applied (or blocked) in one write of the row, which _apply_if_ready
            # makes; the approval is still its own step in the audit trail.
            audit_record(req, update_fields=["status", "decided_at"])
            _apply_if_ready(req, approver, unsaved_fields=["status", "decided_at"])
    return decision


def _decision_insert(req, approver, verdict, reason, payload_hash, assurance, roles) -> Decision:
    """Insert the decision. No savepoint: the request row is locked and the "already decided"
    check above ran under that lock, so the unique (request, approver) constraint can only fire
    on a bug; if it does, the refusal propagates and the whole transaction rolls back."""
    decision = Decision(
        request=req,
        approver=approver,
        verdict=verdict,
        reason=reason,
        payload_hash=payload_hash,
        approver_roles=sorted(roles),
        board_outside_team=is_board_outside_team(approver, req.agent, roles),
        auth_method=assurance.method,
        authenticated_at=assurance.authenticated_at,
        assurance_level=assurance.level,
        auth_subject=assurance.subject[:255],
        auth_credential=assurance.credential,
    )
    try:
        audited_save(decision, create=True)
    except IntegrityError:
        raise DecisionRefused("You have already decided on this request.", code="already_decided") from None
    return decision


def _refuse_stale_or_weak(req: ApprovalRequest, payload_hash: str, assurance: Assurance) -> None:
    """The decider saw the current payload, and signed in strongly enough for this request."""
    if payload_hash != req.payload_hash:
        raise DecisionRefused(
            "The payload changed since you loaded it; review the current version and decide again.",
            code="stale_payload",
        )
    step_up = decision_step_up_refusal(req, assurance)
    if step_up:
        raise DecisionRefused(step_up, code="step_up_required")


def _close(req: ApprovalRequest, status: str, now: datetime, *, notify: bool = True) -> None:
    req.status = status
    req.decided_at = req.decided_at or now
    req.blocked_reason = ""
    audited_save(req, update_fields=["status", "decided_at", "blocked_reason", "updated_at"])
    spec = kind_get(req.kind)
    if spec.on_abandon:
        spec.on_abandon(req)
    if notify:
        req_id = req.pk
        transaction.on_commit(lambda: _enqueue("notify_request_outcome", req_id))


def _diff_snapshot(spec: KindSpec, req: ApprovalRequest) -> list[dict] | None:
    """The kind's "now / after applying" rows as plain data, taken just before applying."""
    try:
        if spec.diff_reads_db:
            with transaction.atomic():  # a savepoint: a failed read must not poison the apply
                rows = spec.diff(req)
        else:  # the kind's diff reads only the payload: no savepoint to pay for
            rows = spec.diff(req)
    except Exception:  # noqa: BLE001 - a display aid must never stop an approved change
        return None
    return [{"label": r.label, "current": str(r.current), "proposed": str(r.proposed)} for r in rows]


def apply_snapshot(req: ApprovalRequest) -> dict:
    """The facts an apply went ahead on, frozen with it for the "why was this allowed?" page:
    both kill switches as they stood just before the change took effect (a re-enable request
    shows the switch it found pulled), and the version's bundle digest. Two or three small
    reads, on applies only."""
    agent_switch = None
    if req.agent_id is not None and "agent" in req._state.fields_cache:
        # _lock read the agent with the request, in this same transaction: no second read.
        agent_switch = req.agent.side_effects_enabled
    elif req.agent_id is not None:
        agent_switch = Agent.objects.filter(pk=req.agent_id).values_list("side_effects_enabled", flat=True).first()
    if hasattr(req, "fleet_side_effects_enabled"):  # _lock read it with the request
        fleet = req.fleet_side_effects_enabled
    else:
        fleet = GlobalControls.objects.filter(pk=1).values_list("side_effects_enabled", flat=True).first()
    version = None
    if req.version_id is not None:
        label, digest = AgentVersion.objects.filter(pk=req.version_id).values_list("label", "bundle_digest").get()
        version = {"label": label, "bundle_digest": digest}
    return {
        "recorded_at": timezone.now().isoformat(),
        "kill_switch": {
            "agent_side_effects_enabled": agent_switch,
            # No row yet means the fleet switch was never pulled.
            "fleet_side_effects_enabled": True if fleet is None else fleet,
        },
        "version": version,
    }


def apply_gates_preview(req: ApprovalRequest) -> list[str]:
    """What the apply gates would object to if this pending request were approved now (missing
    documents, no passing eval run, ...): shown on its page so approvers and the requester know
    what it will wait for. Read-only: the gates answer again, for real, when it is applied."""
    if req.status != RequestStatus.PENDING:
        return []
    return [str(objection) for gate in apply_gates if (objection := gate(req))]


def _apply_objections(req: ApprovalRequest) -> list[str]:
    """What holds an approved request back: open checklist items, then each apply gate's word."""
    reasons = []
    # _lock's has_open_items says "none open" without a query; items only ever close after that.
    maybe_open = getattr(req, "has_open_items", True)
    open_items = [i.get_key_display() for i in req.checklist.filter(done=False)] if maybe_open else []
    if open_items:
        reasons.append("Checklist items open: " + ", ".join(open_items) + ".")
    for gate in apply_gates:
        objection = gate(req)
        if objection:
            reasons.append(str(objection))
    return reasons


def _apply_if_ready(req: ApprovalRequest, actor, *, unsaved_fields: list[str] | None = None) -> bool:
    """Apply an approved request (row already locked by the caller) if nothing holds it back.
    Exactly once: the status moves to applied in this same transaction. ``unsaved_fields``: what
    the caller changed on ``req`` and leaves to this function's one write of the row."""
    fields = list(unsaved_fields or [])
    if req.status != RequestStatus.APPROVED:
        if fields:
            audited_save(req, update_fields=[*fields, "updated_at"])
        return False
    reasons = _apply_objections(req)
    if not reasons:
        spec = kind_get(req.kind)
        # Once applied, "now" equals "after": keep the comparison the approvers decided on.
        diff_at_apply = _diff_snapshot(spec, req)
        # Set before the effect runs so the kind may decide on the very facts recorded (the
        # runtime action reads the fleet switch from here instead of a second query).
        req.apply_snapshot = facts_at_apply = apply_snapshot(req)
        try:
            if spec.apply_blocks_before_writing:  # nothing written when blocked: no savepoint
                spec.apply(req, actor)
            else:
                with transaction.atomic():  # a savepoint: a blocked apply's writes are undone
                    spec.apply(req, actor)
        except ApplyBlocked as exc:
            reasons.append(exc.message)
    if reasons:
        blocked = " ".join(reasons)
        if blocked != req.blocked_reason:
            first_time = not req.blocked_reason
            req.blocked_reason = blocked
            fields.append("blocked_reason")
            if first_time:
                req_id = req.pk
                transaction.on_commit(lambda: _enqueue("notify_request_outcome", req_id))
        if fields:
            audited_save(req, update_fields=[*fields, "updated_at"])
        return False
    req.status = RequestStatus.APPLIED
    req.applied_at = timezone.now()
    req.blocked_reason = ""
    req.diff_at_apply = diff_at_apply
    req.apply_snapshot = facts_at_apply
    applied = ["status", "applied_at", "blocked_reason", "diff_at_apply", "apply_snapshot"]
    audited_save(req, update_fields=[*dict.fromkeys([*fields, *applied]), "updated_at"])
    req_id = req.pk
    transaction.on_commit(lambda: _enqueue("notify_request_outcome", req_id))
    return True


def request_apply(*, request_id: int, actor=None) -> ApprovalRequest:
    """Retry applying an approved-but-blocked request ("Apply now", or the beat task). Anyone
    eligible to decide, or the requester, may ask; applying twice is impossible (status check
    under the row lock)."""
    with transaction.atomic(), acting_as(actor):
        req = _lock(request_id, RequestRefused)
        if actor is not None and req.requester_id != actor.pk and approver_refusal(req, actor):
            raise RequestRefused("Only the requester or an approver may retry applying.", code="permission_denied")
        if req.status == RequestStatus.APPLIED:
            raise RequestRefused("This request was already applied.", code="already_applied")
        if req.status != RequestStatus.APPROVED:
            raise RequestRefused(
                _closed_sentence(req) if req.status != RequestStatus.PENDING else "This request is not approved yet.",
                code="not_approved",
            )
        if req.expires_at <= timezone.now():
            raise RequestRefused("This request has expired.", code="expired")
        _apply_if_ready(req, actor)
    return ApprovalRequest.objects.get(pk=req.pk)


# --- checklist ----------------------------------------------------------------------------------


def checklist_tick_refusal(req: ApprovalRequest, user, key: str) -> str | None:
    """Who may tick: never the requester; executive sign-off only by an Executive; any other item
    by someone eligible to decide this request (role + approve_agent on the agent)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return "Sign in to tick checklist items."
    if req.requester_id == user.pk:
        return "You requested this change; someone else must tick its checklist."
    if key == ChecklistKey.EXECUTIVE_SIGNOFF:
        if role_names.EXECUTIVE not in _user_roles(user):
            return "Only an executive may give executive sign-off."
        return None
    return approver_refusal(req, user)


def checklist_item_tick(
    *, request_id: int, key: str, user=None, evidence: str, automatic: bool = False
) -> ChecklistItem:
    """Tick one item with evidence (a link or a note). ``automatic=True`` is the system ticking
    (e.g. ``eval_threshold`` from a passing eval run) and needs no person. Ticking the last open
    item of an approved request applies it, through the same exactly-once path as a decision."""
    evidence = (evidence or "").strip()
    with transaction.atomic(), acting_as(user):
        req = _lock(request_id, RequestRefused)
        if not req.is_open:
            raise RequestRefused(_closed_sentence(req), code="already_decided")
        item = ChecklistItem.objects.select_for_update().filter(request=req, key=key).first()
        if item is None:
            raise RequestRefused(f"This request has no checklist item {key!r}.", code="not_found")
        if not automatic:
            refusal = checklist_tick_refusal(req, user, key)
            if refusal:
                raise RequestRefused(refusal, code="permission_denied")
        if item.done:
            raise RequestRefused(
                f"{item.get_key_display()} was already ticked by {user_display_name(item.ticked_by)} "
                f"on {item.ticked_at:%Y-%m-%d}.",
                code="already_done",
            )
        if not evidence:
            raise RequestRefused("Evidence is required: a link or a note.", code="evidence_required")
        if len(evidence) > MAX_EVIDENCE:
            raise RequestRefused(f"Keep the evidence under {MAX_EVIDENCE} characters.", code="invalid")
        item.done = True
        item.ticked_by = user
        item.ticked_at = timezone.now()
        item.evidence = evidence
        item.automatic = automatic
        item.save()
        _apply_if_ready(req, user)
    return item


# --- closing ------------------------------------------------------------------------------------


def request_withdraw(*, request_id: int, actor, reason: str = "") -> ApprovalRequest:
    """The requester may withdraw a request that is not applied yet; nothing takes effect."""
    with transaction.atomic(), acting_as(actor):
        req = _lock(request_id, RequestRefused)
        if actor is None or req.requester_id != actor.pk:
            raise RequestRefused("Only the requester may withdraw a request.", code="permission_denied")
        if not req.is_open:
            raise RequestRefused(_closed_sentence(req), code="already_decided")
        _close(req, RequestStatus.WITHDRAWN, timezone.now(), notify=False)
    return req


def requests_expire(now: datetime | None = None) -> int:
    """Close open requests past their expiry (beat task). Idempotent: each row is locked and
    re-checked, rows another worker holds are skipped, and a closed row is never touched again.
    Returns how many were expired by this call."""
    now = now or timezone.now()
    ids = list(
        ApprovalRequest.objects.filter(
            status__in=[RequestStatus.PENDING, RequestStatus.APPROVED], expires_at__lte=now
        ).values_list("pk", flat=True)[:1000]
    )
    expired = 0
    for pk in ids:
        with transaction.atomic():
            req = ApprovalRequest.objects.select_for_update(skip_locked=True).filter(pk=pk).first()
            if req is None or not req.is_open or req.expires_at > now:
                continue
            _close(req, RequestStatus.EXPIRED, now)
            expired += 1
    return expired


def requests_retry_blocked(now: datetime | None = None) -> int:
    """Retry approved-but-blocked requests (a gate may have cleared). Returns how many applied."""
    now = now or timezone.now()
    applied = 0
    ids = ApprovalRequest.objects.filter(status=RequestStatus.APPROVED, expires_at__gt=now).values_list("pk", flat=True)
    for pk in list(ids[:500]):
        with transaction.atomic():
            req = ApprovalRequest.objects.select_for_update(skip_locked=True).filter(pk=pk).first()
            if req is not None and _apply_if_ready(req, None):
                applied += 1
    return applied


def _enqueue(task_name: str, request_id: int) -> None:
    from . import tasks

    getattr(tasks, task_name).delay(request_id=request_id)
