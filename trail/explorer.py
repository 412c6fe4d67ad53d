"""The audit explorer's reads: every chain entry, filtered; the CSV and JSON Lines exports of the
filtered set, streamed; the chain's status; where an entry's object lives.

Filters are parsed by :class:`trail.forms.AuditFilterForm` (the page, the exports and the API
share it, so a bad value is the same clear error everywhere). Exports read the entries in
keyset batches by ``seq`` (never OFFSET, never the whole set in memory) and write each row as it
is read, so a million entries stream in constant memory."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.urls import NoReverseMatch, reverse

from registry.audit_chain import chain_verify
from registry.models import AuditEntry
from reports.tables import spreadsheet_safe

from .models import ChainVerification

EXPORT_BATCH = 2000
EXPORT_COLUMNS = (
    "seq",
    "occurred_at",
    "actor_kind",
    "actor_id",
    "actor_label",
    "agent",
    "object_type",
    "object_id",
    "action",
    "summary",
    "payload",
    "content_hash",
    "prev_hash",
)
# Object types whose entries also link to "why was this allowed?".
WHY_PAGES = {"actions.actionrequest": "trail:why_action", "approvals.approvalrequest": "trail:why_change"}


def entries_filtered(data: dict) -> QuerySet[AuditEntry]:
    """The entries matching the cleaned filters of :class:`AuditFilterForm` (every filter
    optional; all given ones must hold)."""
    qs = AuditEntry.objects.all()
    if data.get("actor_kind"):
        qs = qs.filter(actor_kind=data["actor_kind"])
    if data.get("actor"):
        # A name (or part of one), or a person's or agent's id.
        actor = data["actor"]
        match = Q(actor_label__icontains=actor)
        if actor.isdigit():
            match |= Q(actor_id=int(actor))
        qs = qs.filter(match)
    if data.get("agent") is not None:
        qs = qs.filter(agent_id=data["agent"].pk)
    if data.get("object_type"):
        qs = qs.filter(object_type=data["object_type"])
    if data.get("object_id"):
        qs = qs.filter(object_id=data["object_id"])
    if data.get("action"):
        # "decision" finds decision.approve and decision.deny too.
        qs = qs.filter(Q(action=data["action"]) | Q(action__startswith=data["action"] + "."))
    if data.get("since"):
        qs = qs.filter(occurred_at__gte=datetime.combine(data["since"], time.min, tzinfo=UTC))
    if data.get("until"):
        qs = qs.filter(occurred_at__lt=datetime.combine(data["until"] + timedelta(days=1), time.min, tzinfo=UTC))
    if data.get("q"):
        text = data["q"]
        qs = qs.filter(
            Q(summary__icontains=text)
            | Q(actor_label__icontains=text)
            | Q(object_id=text)
            | Q(action__icontains=text)
            | Q(object_type__icontains=text)
        )
    return qs


def _batches(qs: QuerySet[AuditEntry]) -> Iterator[dict]:
    """The rows of ``qs`` in seq order, ``EXPORT_BATCH`` at a time by keyset (seq > last)."""
    last = 0
    while True:
        chunk = list(
            qs.filter(seq__gt=last)
            .order_by("seq")
            .values(*[c for c in EXPORT_COLUMNS if c != "agent"], "agent__slug")[:EXPORT_BATCH]
        )
        for row in chunk:
            row["agent"] = row.pop("agent__slug") or ""
            row["occurred_at"] = row["occurred_at"].astimezone(UTC).isoformat()
            yield row
        if len(chunk) < EXPORT_BATCH:
            return
        last = chunk[-1]["seq"]


class _Echo:
    """A file-like object whose write returns the line: csv.writer then yields strings."""

    def write(self, value: str) -> str:
        return value


def csv_lines(qs: QuerySet[AuditEntry]) -> Iterator[str]:
    """The CSV export, one line at a time; every text cell neutralised against formula
    injection (``reports.tables.spreadsheet_safe``, the one neutraliser of Quorum's CSVs)."""
    writer = csv.writer(_Echo())
    yield writer.writerow(EXPORT_COLUMNS)
    for row in _batches(qs):
        cells = []
        for column in EXPORT_COLUMNS:
            value = row[column]
            if column == "payload":
                value = json.dumps(value, sort_keys=True, ensure_ascii=False)
            cells.append("" if value is None else spreadsheet_safe(str(value)))
        yield writer.writerow(cells)


def jsonl_lines(qs: QuerySet[AuditEntry]) -> Iterator[str]:
    """The JSON Lines export: one entry per line, with the fields the chain hashes (so a line can
    be checked against its ``content_hash``) plus the agent's slug."""
    for row in _batches(qs):
        yield json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"


# --- links ----------------------------------------------------------------------------------------


def object_url(entry: AuditEntry) -> str:
    """Where the entry's object lives: its own page when it has one and still exists, else the
    explorer filtered to that object's entries (never a dead link)."""
    fallback = reverse("trail:explorer") + f"?object_type={entry.object_type}&object_id={entry.object_id}"
    if "." not in entry.object_type or not entry.object_id:
        return fallback
    app_label, model = entry.object_type.split(".", 1)
    try:
        model_class = ContentType.objects.get_by_natural_key(app_label, model).model_class()
    except ContentType.DoesNotExist:
        return fallback
    if model_class is None or not hasattr(model_class, "get_absolute_url"):
        return fallback
    try:
        obj = model_class._default_manager.filter(pk=entry.object_id).first()
    except (ValueError, TypeError, ValidationError):  # an id of another shape (a deleted model's)
        return fallback
    return obj.get_absolute_url() if obj is not None else fallback


def why_url(entry: AuditEntry) -> str:
    """The "why was this allowed?" page of an action or change request's entry ('' otherwise)."""
    name = WHY_PAGES.get(entry.object_type)
    if not name or not entry.object_id:
        return ""
    try:
        return reverse(name, args=[entry.object_id])
    except NoReverseMatch:  # an id of another shape: no page to link
        return ""


# --- chain status ---------------------------------------------------------------------------------


def chain_status() -> ChainVerification | None:
    """The last verification of the chain (the explorer shows it with the head it reached)."""
    return ChainVerification.objects.order_by("-checked_at").first()


def chain_verify_record(*, actor=None) -> ChainVerification:
    """Walk the chain now (``registry.audit_chain.chain_verify``) and keep the result."""
    report = chain_verify()
    return ChainVerification.objects.create(
        ok=report.ok,
        entries_checked=report.entries_checked,
        first_seq=report.first_seq,
        head_seq=report.head_seq,
        bad_seq=report.bad_seq,
        problem=report.problem[:2000],
        checked_by=actor,
    )
