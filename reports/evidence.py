"""Offline-verifiable evidence export (issue 15, item 5).

One ZIP for one agent (or the whole portfolio) and a period, that an auditor verifies with
``quorum-verify`` (``tools/quorum_verify``) without Quorum, its database or the network:

* ``agent/card.json`` (or ``agents.jsonl`` for the portfolio) and ``records/*.jsonl``: versions
  with their bundle digests, change and action requests (``approval_requests``; the gate's
  ``action_requests``) with their ``decisions``, eval runs, incidents, timelines, postmortems and
  their action items, reviews. Every concrete column of each row, by column name.
* ``audit/chain.jsonl`` and ``audit/chain_proof.json``: the audit chain from the signed
  checkpoint before the first entry in scope to the signed checkpoint after the last one. Entries
  in scope are written in full, the others as stubs (``seq``, ``prev_hash``, ``content_hash``), so
  the links can be checked without disclosing other agents' records.
* files the apps above add through ``reports.extensions.evidence_pack_files`` (the compliance
  workbench's ``compliance/framework_mapping.json``).
* ``manifest.json`` (every file's SHA-256 and size, the scope, the public key) and
  ``manifest.sig`` (Ed25519 over the manifest's bytes, the key of ``registry/audit_signing.py``).

Written as a stream: each file is hashed while it is written into the ZIP and rows are read in
batches, so a million audit entries never sit in memory. The "reports" app owns it because it
is the one app that may read every other app's records (it sits at the top of the layers).
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO

from django.db.models import Model, Q, QuerySet
from django.utils import timezone

from actions.models import ActionRequest
from approvals.models import ApprovalRequest, Decision
from evals.models import EvalRun
from incidents.models import ActionItem, Incident, Postmortem, TimelineEntry
from registry import audit_signing
from registry.audit_chain import GENESIS_HASH, chain_rows, checkpoint_sign
from registry.canonical import canonical_json
from registry.models import Agent, AgentVersion, AuditCheckpoint, AuditEntry, AuditPrune, Review

from .extensions import evidence_pack_files

FORMAT = "quorum-evidence/v1"
BATCH = 2000

README = """Quorum evidence export ({scope}, {period}).

Verify it offline, without Quorum (Python 3.11+ and the `cryptography` package):

    pip install <quorum checkout>/tools/quorum_verify
    quorum-verify {filename} --key-id {key_id}

or, from a Quorum checkout: PYTHONPATH=tools/quorum_verify python -m quorum_verify {filename} --key-id {key_id}

Compare the key id with the one your organisation publishes for its Quorum (README, "Audit trail").
manifest.json lists every file with its SHA-256; manifest.sig is the Ed25519 signature of
manifest.json; audit/chain.jsonl is the audit chain between two signed checkpoints
(audit/chain_proof.json), entries of this export in full, the others as hashes only.
"""


@dataclass
class ExportSummary:
    files: int
    audit_entries: int
    first_seq: int
    last_seq: int
    key_id: str


class _HashedZip:
    """A ZIP being written whose files are hashed as they are written (for the manifest)."""

    def __init__(self, out: str | IO[bytes]) -> None:
        self.archive = zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1)
        self.files: list[dict] = []

    def write_lines(self, name: str, lines: Iterable[str]) -> int:
        digest, size, count = hashlib.sha256(), 0, 0
        with self.archive.open(name, "w", force_zip64=True) as handle:
            buffer: list[bytes] = []
            for line in lines:
                data = (line + "\n").encode()
                buffer.append(data)
                digest.update(data)
                size += len(data)
                count += 1
                if len(buffer) >= BATCH:
                    handle.write(b"".join(buffer))
                    buffer.clear()
            handle.write(b"".join(buffer))
        self.files.append({"path": name, "sha256": digest.hexdigest(), "bytes": size})
        return count

    def write_text(self, name: str, text: str) -> None:
        data = text.encode()
        self.archive.writestr(name, data)
        self.files.append({"path": name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)})


def _period_q(field: str, since: datetime | None, until: datetime | None) -> Q:
    q = Q()
    if since is not None:
        q &= Q(**{f"{field}__gte": since})
    if until is not None:
        q &= Q(**{f"{field}__lt": until})
    return q


def _rows(queryset: QuerySet) -> Iterator[str]:
    """Every concrete column of each row, canonical JSON, one line each, read in batches."""
    for row in queryset.order_by("pk").values().iterator(chunk_size=BATCH):
        yield canonical_json(row)


def _records(agent: Agent | None, since: datetime | None, until: datetime | None) -> dict[str, QuerySet]:
    """What the export holds besides the audit chain, by file name: the agent's own records (all
    of them for the portfolio) created in the period; versions whatever their age (the card)."""

    def mine(model: type[Model], path: str = "agent") -> QuerySet:
        rows = model.objects.all()
        return rows if agent is None else rows.filter(**{path: agent})

    requests = mine(ApprovalRequest).filter(_period_q("created_at", since, until))
    incidents = mine(Incident).filter(_period_q("detected_at", since, until))
    return {
        "records/versions.jsonl": mine(AgentVersion),
        "records/approval_requests.jsonl": requests,
        "records/decisions.jsonl": Decision.objects.filter(request__in=requests),
        "records/action_requests.jsonl": mine(ActionRequest).filter(_period_q("created_at", since, until)),
        "records/eval_runs.jsonl": mine(EvalRun).filter(_period_q("created_at", since, until)),
        "records/incidents.jsonl": incidents,
        "records/incident_timelines.jsonl": TimelineEntry.objects.filter(incident__in=incidents),
        "records/postmortems.jsonl": Postmortem.objects.filter(incident__in=incidents),
        "records/postmortem_action_items.jsonl": ActionItem.objects.filter(postmortem__incident__in=incidents),
        "records/reviews.jsonl": mine(Review).filter(_period_q("opened_at", since, until)),
    }


def _checkpoint_json(checkpoint: AuditCheckpoint) -> dict:
    return {**checkpoint.statement(), "public_key": checkpoint.public_key, "signature": checkpoint.signature}


def _audit_scope(agent: Agent | None, since: datetime | None, until: datetime | None) -> QuerySet:
    entries = AuditEntry.objects.filter(_period_q("occurred_at", since, until))
    return entries if agent is None else entries.filter(agent=agent)


def _chain_span(scope: QuerySet) -> tuple[AuditCheckpoint | None, AuditCheckpoint, int]:
    """The signed checkpoints around the entries in scope: the last one before the first entry
    (``None``: the chain's start) and the first one at or after the last entry, signed now if the
    chain has moved on since the last checkpoint. Returns them and the number of entries in scope."""
    floor = AuditPrune.objects.order_by("-through_seq").values_list("through_seq", flat=True).first() or 0
    scope = scope.filter(seq__gt=floor)
    bounds = scope.order_by("seq").values_list("seq", flat=True)
    first, last = bounds.first(), scope.order_by("-seq").values_list("seq", flat=True).first()
    if first is None:  # nothing in scope: an empty span at the current head
        after = checkpoint_sign()
        return after, after, 0
    before = AuditCheckpoint.objects.filter(seq__lt=first, seq__gte=floor).order_by("-seq", "-id").first()
    if before is None and floor:
        before = AuditPrune.objects.order_by("-through_seq").first().checkpoint
    after = AuditCheckpoint.objects.filter(seq__gte=last).order_by("seq", "id").first() or checkpoint_sign()
    return before, after, scope.count()


def _chain_lines(
    before: AuditCheckpoint | None, after: AuditCheckpoint, agent: Agent | None, since, until
) -> Iterator[str]:
    for row in chain_rows(after_seq=before.seq if before else 0, until_seq=after.seq):
        moment = datetime.fromisoformat(row["occurred_at"])
        in_scope = (
            (agent is None or row["agent_id"] == agent.pk)
            and (since is None or moment >= since)
            and (until is None or moment < until)
        )
        if in_scope:
            yield canonical_json(row)
        else:
            yield canonical_json(
                {"seq": row["seq"], "prev_hash": row["prev_hash"], "content_hash": row["content_hash"]}
            )


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def evidence_export(
    *,
    out: str | IO[bytes],
    agent: Agent | None,
    since: datetime | None = None,
    until: datetime | None = None,
    generated_by: str = "",
    filename: str = "evidence.zip",
) -> ExportSummary:
    """Write the evidence ZIP for ``agent`` (``None``: the portfolio) and ``[since, until)`` to
    ``out`` (a path or a writable binary file). Signs a checkpoint if the chain moved on since the
    last one, so the closing head of the chain proof is always signed."""
    if since and until and since >= until:
        raise ValueError("since must be before until")
    public_hex = audit_signing.public_key_hex()
    key_id = audit_signing.key_id_of(public_hex)
    scope_words = f"agent {agent.slug}" if agent else "portfolio"
    period = f"{_iso(since) or 'the beginning'} to {_iso(until) or 'now'}"
    before, after, in_scope = _chain_span(_audit_scope(agent, since, until))
    zipped = _HashedZip(out)
    with zipped.archive:
        zipped.write_text(
            "README.txt", README.format(scope=scope_words, period=period, filename=filename, key_id=key_id)
        )
        if agent is not None:
            zipped.write_text("agent/card.json", canonical_json(Agent.objects.filter(pk=agent.pk).values().get()))
        else:
            zipped.write_lines("agents.jsonl", _rows(Agent.objects.all()))
        for name, queryset in _records(agent, since, until).items():
            zipped.write_lines(name, _rows(queryset))
        for contribute in evidence_pack_files:
            for name, text in contribute(agent, since, until).items():
                zipped.write_text(name, text)
        linked = zipped.write_lines("audit/chain.jsonl", _chain_lines(before, after, agent, since, until))
        proof = {
            "checkpoint_before": _checkpoint_json(before) if before else None,
            "checkpoint_after": _checkpoint_json(after),
            "start_hash": before.head_hash if before else GENESIS_HASH,
            "entries_in_scope": in_scope,
            "entries_linked": linked,
        }
        zipped.write_text("audit/chain_proof.json", canonical_json(proof))
        manifest = {
            "format": FORMAT,
            "generated_at": _iso(timezone.now()),
            "generated_by": generated_by,
            "scope": {"agent": agent.slug if agent else None, "since": _iso(since), "until": _iso(until)},
            "files": sorted(zipped.files, key=lambda item: item["path"]),
            "public_key": public_hex,
            "key_id": key_id,
        }
        raw = canonical_json(manifest).encode()
        zipped.archive.writestr("manifest.json", raw)
        zipped.archive.writestr("manifest.sig", audit_signing.sign(raw) + "\n")
    return ExportSummary(
        files=len(zipped.files),
        audit_entries=in_scope,
        first_seq=(before.seq + 1) if before else 1,
        last_seq=after.seq,
        key_id=key_id,
    )
