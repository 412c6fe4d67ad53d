"""The tamper-evident audit chain (issue 15, item 1): append, verify, checkpoint, prune.

Every audited event becomes one :class:`~registry.models.AuditEntry`. An entry's ``content_hash``
is the SHA-256 of the canonical JSON of :meth:`AuditEntry.chain_content` (which holds its ``seq``
and ``prev_hash``), and ``prev_hash`` is the previous entry's ``content_hash``, so an entry that is
changed, deleted or inserted breaks the chain from that point. Signed checkpoints
(:func:`checkpoint_sign`) pin the head, so even a rewrite of every later hash is found.

**How the append race is closed.** Two transactions appending at once would both read the same
head and write two entries with the same predecessor. :func:`chain_append` therefore takes a
*transaction-scoped* advisory lock (``pg_advisory_xact_lock``) and only then reads the head,
under a snapshot taken after the lock was granted (READ COMMITTED, the function
``registry_audit_chain_lock_head`` of migration 0009), so it sees every entry committed before.
The lock, the head and the inserts are one statement (``registry_audit_chain_append``, migration
0016, which hashes in SQL the canonical text rendered here, so the entry format is unchanged),
and :func:`chain_batch` writes all of a transaction's entries in that one statement. The lock is
held until the
business transaction commits or rolls back, so entries are sequenced in commit order and a
rolled-back transaction leaves no gap (its seq is simply handed to the next writer). The
database backs this: ``seq`` and ``prev_hash`` are both unique, so a fork can never be stored.

**What it costs.** Transactions that write audit entries are serialised from their first
append until their commit; transactions that audit nothing never wait. A business transaction
should therefore append late and commit soon (the services here do: they change rows, then
audit, then return). PostgreSQL detects a deadlock between the lock and a row lock taken
after it and aborts one transaction, which the caller sees as an error, never as a hang.
``bench/audit.py`` measures the throughput with 1 and 8 writers (README, "Audit trail").
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import connection, transaction
from django.utils import timezone

from . import audit_signing
from .canonical import canonical_json
from .choices import ActorKind
from .models import Agent, AuditCheckpoint, AuditEntry, AuditPrune

GENESIS_HASH = "0" * 64
# One fixed 64-bit key for the chain's advisory lock ("quorum.audit.chain" in ASCII, truncated).
CHAIN_LOCK_KEY = 0x71756F72756D6163
PRUNE_SETTING = "quorum.audit_prune_through"
VERIFY_BATCH = 5000


# --- canonical content ------------------------------------------------------------------------


def payload_normalize(value):
    """``value`` as the JSON that PostgreSQL's ``jsonb`` gives back unchanged, so the hash computed
    at append is the hash recomputed from the stored row: ``Decimal``/``UUID``/dates as strings
    (canonical JSON's rule), floats that ``jsonb`` would print as integers as integers, and NaN or
    infinities (which ``jsonb`` refuses) as strings; NUL characters (which ``text`` refuses) dropped."""
    if isinstance(value, dict):
        return {str(key).replace("\x00", ""): payload_normalize(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [payload_normalize(item) for item in value]
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return int(value) if value.is_integer() and abs(value) >= 1e16 else value
    if isinstance(value, str):
        return value.replace("\x00", "")
    return str(value).replace("\x00", "")


def content_hash_of(content: dict) -> str:
    """SHA-256 (hex) of the canonical JSON of an entry's chain content (UTF-8)."""
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()


# --- append -----------------------------------------------------------------------------------


def _actor_fields(actor, actor_kind: str | None) -> tuple[str, int | None, str]:
    if isinstance(actor, Agent):
        return actor_kind or ActorKind.AGENT, actor.pk, actor.slug
    if actor is not None and getattr(actor, "is_authenticated", False):
        return actor_kind or ActorKind.PERSON, actor.pk, actor.get_username()
    return actor_kind or ActorKind.SYSTEM, None, "system" if actor is None else str(actor)[:200]


def chain_head() -> tuple[int, str]:
    """(seq, content_hash) of the last committed entry; after a prune of everything, the pruned
    checkpoint's head; ``(0, GENESIS_HASH)`` for an empty chain."""
    last = AuditEntry.objects.order_by("-seq").values_list("seq", "content_hash").first()
    if last is not None:
        return last
    pruned = AuditPrune.objects.select_related("checkpoint").order_by("-through_seq").first()
    if pruned is not None:
        return pruned.checkpoint.seq, pruned.checkpoint.head_hash
    return 0, GENESIS_HASH


def chain_entry(
    *,
    action: str,
    actor=None,
    actor_kind: str | None = None,
    agent: Agent | int | None = None,
    obj=None,
    object_type: str = "",
    object_id: str = "",
    summary: str = "",
    payload: dict | None = None,
) -> AuditEntry:
    """An entry as :func:`chain_append` appends it, not yet written (``seq`` and hashes unset):
    for a caller that writes it in its own statement (:func:`chain_entries_sql`)."""
    kind, actor_id, actor_label = _actor_fields(actor, actor_kind)
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
    return AuditEntry(
        occurred_at=timezone.now(),
        actor_kind=kind,
        actor_id=actor_id,
        actor_label=actor_label[:200],
        agent_id=agent.pk if isinstance(agent, Agent) else agent,
        object_type=object_type[:100],
        object_id=str(object_id)[:100],
        action=action[:60],
        summary=summary.replace("\x00", ""),
        payload=payload_normalize(payload or {}),
    )


def chain_append(**fields) -> AuditEntry:
    """Append one entry to the chain, inside the caller's transaction if there is one.

    ``actor`` is a person (user), an :class:`Agent` or ``None`` (the system); ``actor_kind``
    overrides the kind read from it. ``obj`` names the object (``app_label.model`` and pk), or
    give ``object_type``/``object_id``. ``agent`` (instance or id) files the entry under an agent.
    ``action``, ``summary`` and ``payload`` say what happened (:func:`chain_entry`).
    The entry is sequenced in commit order (see the module docstring for the lock).

    Inside :func:`chain_batch` the entry is queued and written with the batch's others when the
    batch ends (its ``seq`` and hashes are set then); otherwise it is written now, in one
    statement."""
    entry = chain_entry(**fields)
    pending = _batch.get()
    if pending is not None:
        pending.append(entry)
    else:
        _entries_write([entry])
    return entry


# A list while a chain_batch is open in this context: the entries it will write at its end.
_batch: ContextVar[list[AuditEntry] | None] = ContextVar("audit_chain_batch", default=None)


@contextmanager
def chain_batch() -> Iterator[None]:
    """Write every entry appended inside the block in one statement when the block ends.

    Use it inside the business transaction, around everything that audits (the applying
    decision audits four writes): the chain's lock is then taken once, at the end, just before
    the commit, so the transaction holds it for the shortest time. An exception discards the
    queued entries with the transaction they belong to. A batch inside a batch joins it."""
    if _batch.get() is not None:
        yield
        return
    pending: list[AuditEntry] = []
    token = _batch.set(pending)
    try:
        yield
    finally:
        _batch.reset(token)
    if pending:
        _entries_write(pending)


# Stand-ins for the two values only the database knows when the entry's text is rendered; a
# fresh random pair per entry, so no payload can contain them by chance.
def _sentinels() -> tuple[str, str]:
    token = secrets.token_hex(16)
    return f"prev-{token}", f"seq-{token}"


def _content_pieces(entry: AuditEntry) -> dict:
    """The entry's canonical JSON in three pieces around its ``prev_hash`` and ``seq`` values,
    which ``registry_audit_chain_append`` (migration 0016) fills in before hashing: the same
    bytes :func:`content_hash_of` hashes, so the stored hash verifies as every older one does."""
    prev_mark, seq_mark = _sentinels()
    entry.prev_hash, entry.seq = prev_mark, seq_mark
    text = canonical_json(entry.chain_content())
    before_prev, rest = text.split(prev_mark)  # keys are sorted: "prev_hash" comes before "seq"
    before_seq, after_seq = rest.split(f'"{seq_mark}"')
    return {"text_before_prev": before_prev, "text_before_seq": before_seq, "text_after_seq": after_seq}


def chain_entries_sql(entries: list[AuditEntry], name: str = "chain") -> tuple[str, dict]:
    """The call that appends ``entries`` (lock, head, inserts: migration 0016's function) as an
    SQL expression with named parameters (``%(<name>_key)s``, ``%(<name>_rows)s``), for a caller
    that puts it in a statement of its own; it yields ``(entry_id, entry_seq, entry_prev,
    entry_hash)`` per entry, to be checked by :func:`chain_entries_stored`. The lock it takes is
    held until the transaction ends: call it last."""
    rows = [
        {
            **_content_pieces(entry),
            "occurred_at": entry.occurred_at.astimezone(UTC).isoformat(),
            "actor_kind": entry.actor_kind,
            "actor_id": entry.actor_id,
            "actor_label": entry.actor_label,
            "agent_id": entry.agent_id,
            "object_type": entry.object_type,
            "object_id": entry.object_id,
            "action": entry.action,
            "summary": entry.summary,
            "payload": entry.payload,
        }
        for entry in entries
    ]
    sql = f"registry_audit_chain_append(%({name}_key)s, %({name}_rows)s::jsonb)"
    return sql, {f"{name}_key": CHAIN_LOCK_KEY, f"{name}_rows": json.dumps(rows)}


def chain_entries_stored(entries: list[AuditEntry], stored) -> None:
    """Take the ids, seqs and hashes the database gave ``entries`` and check each hash against the
    one computed here: a mismatch raises, failing the transaction, instead of leaving an entry the
    verifier would reject."""
    for entry, (pk, seq, prev_hash, stored_hash) in zip(entries, stored, strict=True):
        entry.pk, entry.seq, entry.prev_hash = pk, seq, prev_hash
        entry.content_hash = content_hash_of(entry.chain_content())
        if entry.content_hash != stored_hash:
            raise RuntimeError(f"Audit entry #{seq}: the database hashed {stored_hash}, Quorum {entry.content_hash}.")
        entry._state.adding = False


def _entries_write(entries: list[AuditEntry]) -> None:
    """Lock the chain, read its head and insert ``entries`` after it, in one statement; then
    check each stored hash against the one computed here (a mismatch fails the transaction)."""
    call, params = chain_entries_sql(entries)
    # Inside the caller's transaction no savepoint is needed: a failed insert fails the caller.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(f"SELECT entry_id, entry_seq, entry_prev, entry_hash FROM {call}", params)  # noqa: S608
        chain_entries_stored(entries, cursor.fetchall())


# --- checkpoints ------------------------------------------------------------------------------


def checkpoint_message(statement: dict) -> bytes:
    """The bytes a checkpoint's signature covers: the canonical JSON of its statement."""
    return canonical_json(statement).encode()


def checkpoint_sign(*, force: bool = False) -> AuditCheckpoint:
    """Sign the current head of the chain (committed entries only) and store the checkpoint.

    Nothing new since the last checkpoint: that one is returned unless ``force``, so the
    schedule does not pile up identical checkpoints on a quiet night."""
    seq, head_hash = chain_head()
    latest = AuditCheckpoint.objects.order_by("-seq", "-id").first()
    if latest is not None and latest.seq == seq and latest.head_hash == head_hash and not force:
        return latest
    public_hex = audit_signing.public_key_hex()
    checkpoint = AuditCheckpoint(
        seq=seq,
        head_hash=head_hash,
        signed_at=timezone.now(),
        key_id=audit_signing.key_id_of(public_hex),
        public_key=public_hex,
    )
    checkpoint.signature = audit_signing.sign(checkpoint_message(checkpoint.statement()))
    checkpoint.save(force_insert=True)
    return checkpoint


def checkpoint_signature_valid(checkpoint: AuditCheckpoint) -> bool:
    return audit_signing.key_id_of(checkpoint.public_key) == checkpoint.key_id and audit_signing.signature_valid(
        public_hex=checkpoint.public_key,
        signature_hex=checkpoint.signature,
        message=checkpoint_message(checkpoint.statement()),
    )


def checkpoint_before(moment: datetime) -> AuditCheckpoint | None:
    """The newest checkpoint whose head entry occurred before ``moment``: what retention may
    prune through (every entry up to it is older than ``moment``, entries are in time order)."""
    head_seq = AuditEntry.objects.filter(occurred_at__lt=moment).order_by("-seq").values_list("seq", flat=True).first()
    if head_seq is None:
        return None
    return AuditCheckpoint.objects.filter(seq__lte=head_seq, seq__gt=0).order_by("-seq", "-id").first()


# --- prune ------------------------------------------------------------------------------------


def chain_prune_before(checkpoint: AuditCheckpoint, *, batch: int = 5000) -> int:
    """Delete every entry up to and including ``checkpoint.seq`` (whole segments: a checkpoint
    is where a segment ends) and keep the checkpoint as the signed head of what was removed.

    Refused unless the checkpoint's signature is valid and the entry it signs is still there
    with that hash, so a prune never anchors the chain on an unverifiable head. Deletes in
    batches of ``batch``, each in its own short transaction; the ``AuditPrune`` row is written
    first, so a prune interrupted half-way leaves a chain that still verifies, and running it
    again finishes it. Returns the number of entries deleted."""
    if not checkpoint_signature_valid(checkpoint):
        raise ValueError(f"Checkpoint #{checkpoint.seq} has an invalid signature; refusing to prune.")
    floor = AuditPrune.objects.order_by("-through_seq").values_list("through_seq", flat=True).first() or 0
    if checkpoint.seq > floor:
        head = AuditEntry.objects.filter(seq=checkpoint.seq).values_list("content_hash", flat=True).first()
        if head != checkpoint.head_hash:
            raise ValueError(f"Entry #{checkpoint.seq} does not match its checkpoint; refusing to prune.")
        AuditPrune.objects.create(checkpoint=checkpoint, through_seq=checkpoint.seq)
    deleted = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            # The trigger lets a DELETE through only at or below this transaction-local setting.
            cursor.execute("SELECT set_config(%s, %s, true)", [PRUNE_SETTING, str(checkpoint.seq)])
            cursor.execute(
                "DELETE FROM registry_auditentry WHERE id IN "
                "(SELECT id FROM registry_auditentry WHERE seq <= %s ORDER BY seq LIMIT %s)",
                [checkpoint.seq, batch],
            )
            count = cursor.rowcount
        deleted += count
        if count < batch:
            return deleted


# --- verify -----------------------------------------------------------------------------------


@dataclass
class ChainReport:
    """What :func:`chain_verify` found: ``ok``, or the first bad entry's ``seq`` and why."""

    ok: bool = True
    entries_checked: int = 0
    checkpoints_checked: int = 0
    first_seq: int = 1
    head_seq: int = 0
    bad_seq: int | None = None
    problem: str = ""
    notes: list[str] = field(default_factory=list)

    def fail(self, seq: int, problem: str) -> ChainReport:
        self.ok, self.bad_seq, self.problem = False, seq, problem
        return self


ENTRY_COLUMNS = (
    "seq",
    "prev_hash",
    "occurred_at",
    "actor_kind",
    "actor_id",
    "actor_label",
    "agent_id",
    "object_type",
    "object_id",
    "action",
    "summary",
    "payload",
    "content_hash",
)


def chain_rows(*, after_seq: int = 0, until_seq: int | None = None, batch: int = VERIFY_BATCH) -> Iterator[dict]:
    """Entries' chain content plus ``content_hash``, in seq order, read in keyset batches so a
    million entries never sit in memory (used by verification and the evidence export)."""
    while True:
        rows = AuditEntry.objects.filter(seq__gt=after_seq)
        if until_seq is not None:
            rows = rows.filter(seq__lte=until_seq)
        chunk = list(rows.order_by("seq").values(*ENTRY_COLUMNS)[:batch])
        for row in chunk:
            row["occurred_at"] = row["occurred_at"].astimezone(UTC).isoformat()
            yield row
        if len(chunk) < batch:
            return
        after_seq = chunk[-1]["seq"]


def row_content(row: dict) -> dict:
    return {key: row[key] for key in ENTRY_COLUMNS if key != "content_hash"}


def link_problem(row: dict, expected_seq: int, expected_prev: str, before_prev: str | None) -> tuple[int, str] | None:
    """Why ``row`` does not continue the chain (the seq to name and the words), or ``None``.

    Shared by ``audit_verify`` and, copied without Django, by ``quorum-verify``: the order of the
    checks is what lets the message name the entry that was changed, deleted or inserted rather
    than the first one that merely looks wrong."""
    seq = row["seq"]
    content = row_content(row)
    if content_hash_of(content) != row["content_hash"]:
        if content_hash_of({**content, "seq": seq - 1}) == row["content_hash"]:
            return seq - 1, f"entry #{seq - 1} was inserted (the entries after it were renumbered)"
        if content_hash_of({**content, "seq": seq + 1}) == row["content_hash"]:
            return seq, f"entry #{seq} was deleted (the entries after it were renumbered)"
        return seq, f"entry #{seq} was changed (its content no longer matches its hash)"
    if seq != expected_seq:
        missing = f"#{expected_seq}" if seq == expected_seq + 1 else f"#{expected_seq}–#{seq - 1}"
        return expected_seq, f"entry {missing} was deleted (the chain jumps to #{seq})"
    if row["prev_hash"] != expected_prev:
        if before_prev is not None and row["prev_hash"] == before_prev:
            return seq - 1, f"entry #{seq - 1} was inserted (#{seq} links to the entry before it)"
        return seq - 1, f"entry #{seq - 1} was changed or replaced (#{seq} does not link to it)"
    return None


def chain_verify(*, batch: int = VERIFY_BATCH) -> ChainReport:
    """Walk the chain and the checkpoints; report the first entry changed, deleted or inserted.

    Starts after the latest prune from its signed checkpoint (or from the genesis hash), checks
    every entry's own hash, its seq (no gaps) and its link to the one before; every checkpoint's
    signature, and that the entry it signed still has the signed hash (which also finds entries
    deleted or rewritten at the end of the chain)."""
    report = ChainReport()
    prune = AuditPrune.objects.select_related("checkpoint").order_by("-through_seq").first()
    expected_seq, expected_prev = 1, GENESIS_HASH
    trusted = audit_signing.trusted_key_ids()
    if prune is not None:
        if prune.checkpoint.key_id not in trusted or not checkpoint_signature_valid(prune.checkpoint):
            return report.fail(
                prune.through_seq,
                f"the checkpoint of the prune through #{prune.through_seq} is not validly signed by a trusted key",
            )
        expected_seq, expected_prev = prune.through_seq + 1, prune.checkpoint.head_hash
        report.notes.append(f"entries #1–#{prune.through_seq} were pruned at {prune.pruned_at:%Y-%m-%d %H:%M} UTC")
    report.first_seq = expected_seq
    checkpoints = list(AuditCheckpoint.objects.filter(seq__gte=expected_seq).order_by("seq", "id"))
    for checkpoint in checkpoints:
        if checkpoint.key_id not in trusted:
            return report.fail(
                checkpoint.seq,
                f"checkpoint #{checkpoint.seq} is signed by key {checkpoint.key_id}, which is neither the current "
                f"key nor listed in {audit_signing.TRUSTED_ENV_VARIABLE}",
            )
        if not checkpoint_signature_valid(checkpoint):
            return report.fail(
                checkpoint.seq,
                f"checkpoint #{checkpoint.seq} (signed {checkpoint.signed_at:%Y-%m-%d %H:%M}) has an invalid signature",
            )
    pending = iter(checkpoints)
    checkpoint = next(pending, None)
    before_prev = None
    for row in chain_rows(after_seq=expected_seq - 1, batch=batch):
        problem = link_problem(row, expected_seq, expected_prev, before_prev)
        if problem is not None:
            return report.fail(*problem)
        while checkpoint is not None and checkpoint.seq <= row["seq"]:
            if checkpoint.seq == row["seq"] and checkpoint.head_hash != row["content_hash"]:
                return report.fail(
                    row["seq"], f"entry #{row['seq']} differs from the one checkpoint #{checkpoint.seq} signed"
                )
            report.checkpoints_checked += 1
            checkpoint = next(pending, None)
        before_prev, expected_prev, expected_seq = row["prev_hash"], row["content_hash"], row["seq"] + 1
        report.entries_checked += 1
    report.head_seq = expected_seq - 1
    if checkpoint is not None:
        return report.fail(
            expected_seq,
            f"entries #{expected_seq}–#{checkpoint.seq} were deleted (checkpoint #{checkpoint.seq} "
            f"signed them; the chain ends at #{expected_seq - 1})",
        )
    return report
