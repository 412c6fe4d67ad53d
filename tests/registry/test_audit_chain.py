"""The tamper-evident audit chain (issue 15, item 1): order under concurrency, the append-only
trigger, tampering found by ``audit_verify`` naming the entry, prune, and every source chained."""

from __future__ import annotations

import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections, transaction
from django.db.utils import IntegrityError, InternalError

from registry.audit_chain import (
    GENESIS_HASH,
    chain_append,
    chain_prune_before,
    chain_verify,
    checkpoint_sign,
    checkpoint_signature_valid,
    content_hash_of,
)
from registry.models import AuditCheckpoint, AuditEntry, AuditPrune

WRITERS = 8
PER_WRITER = 125
PER_TRANSACTION = 5  # a business transaction often audits a few rows at once


def _fill(count: int) -> None:
    for n in range(count):
        chain_append(action="test.fill", summary=f"entry {n}", payload={"n": n, "ratio": n / 7})


def _verify_message() -> str:
    with pytest.raises(CommandError) as failure:
        call_command("audit_verify")
    assert failure.value.returncode == 1
    return str(failure.value)


def _raw(sql: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _drop_guards() -> None:
    """What an attacker with database access does first: the trigger and the unique keys go
    (inside the test's transaction, so they are back afterwards)."""
    _raw("DROP TRIGGER registry_auditentry_append_only ON registry_auditentry")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'registry_auditentry'::regclass AND contype = 'u'"
        )
        names = [row[0] for row in cursor.fetchall()]
    for name in names:
        _raw(f'ALTER TABLE registry_auditentry DROP CONSTRAINT "{name}"')


@pytest.mark.django_db(transaction=True)
def test_eight_concurrent_writers_form_one_gap_free_chain():
    start = AuditEntry.objects.count()
    barrier = threading.Barrier(WRITERS)
    errors: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            barrier.wait()
            for first in range(0, PER_WRITER, PER_TRANSACTION):
                with transaction.atomic():
                    for n in range(first, min(first + PER_TRANSACTION, PER_WRITER)):
                        chain_append(action="test.concurrent", summary=f"writer {number} entry {n}")
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    rows = list(AuditEntry.objects.order_by("seq").values_list("seq", "prev_hash", "content_hash"))
    assert len(rows) == start + WRITERS * PER_WRITER
    assert [row[0] for row in rows] == list(range(1, len(rows) + 1))
    assert rows[0][1] == GENESIS_HASH
    for before, after in zip(rows, rows[1:], strict=False):
        assert after[1] == before[2]
    assert len({row[1] for row in rows}) == len(rows)  # no two entries with the same predecessor
    report = chain_verify()
    assert report.ok, report.problem
    assert report.entries_checked == len(rows)


@pytest.mark.django_db
def test_the_database_refuses_update_and_delete_of_chain_rows():
    _fill(2)
    checkpoint_sign()
    for sql in (
        "UPDATE registry_auditentry SET summary = 'edited' WHERE seq = 1",
        "DELETE FROM registry_auditentry WHERE seq = 1",
        "UPDATE registry_auditcheckpoint SET seq = 5",
        "DELETE FROM registry_auditcheckpoint",
    ):
        with pytest.raises(IntegrityError, match="never edited or deleted"), transaction.atomic():
            _raw(sql)


@pytest.mark.django_db
def test_a_fresh_chain_verifies(capsys):
    _fill(5)
    checkpoint_sign()
    _fill(2)
    call_command("audit_verify")
    out = capsys.readouterr().out
    assert "audit chain OK" in out and "(7 entries), 1 signed checkpoints" in out


@pytest.mark.django_db
def test_an_edited_entry_is_named():
    _fill(10)
    _drop_guards()
    _raw("UPDATE registry_auditentry SET summary = 'nothing to see' WHERE seq = 4")
    message = _verify_message()
    assert "entry #4" in message and "was changed" in message


@pytest.mark.django_db
def test_an_edit_with_its_hash_recomputed_is_named_by_the_next_link():
    _fill(10)
    _drop_guards()
    entry = AuditEntry.objects.get(seq=4)
    entry.summary = "rewritten"
    _raw(
        "UPDATE registry_auditentry SET summary = %s, content_hash = %s WHERE seq = 4",
        ["rewritten", content_hash_of(entry.chain_content())],
    )
    assert "entry #4 was changed or replaced" in _verify_message()


@pytest.mark.django_db
def test_a_deleted_entry_is_named():
    _fill(10)
    _drop_guards()
    _raw("DELETE FROM registry_auditentry WHERE seq = 6")
    message = _verify_message()
    assert "entry #6 was deleted" in message


@pytest.mark.django_db
def test_a_deleted_entry_with_the_rest_renumbered_is_named():
    _fill(10)
    _drop_guards()
    _raw("DELETE FROM registry_auditentry WHERE seq = 6")
    _raw("UPDATE registry_auditentry SET seq = seq - 1 WHERE seq > 6")
    assert "entry #6 was deleted" in _verify_message()


@pytest.mark.django_db
def test_the_last_entries_deleted_after_a_checkpoint_are_found():
    _fill(10)
    checkpoint_sign()
    _drop_guards()
    _raw("DELETE FROM registry_auditentry WHERE seq >= 9")
    assert "entries #9–#10 were deleted" in _verify_message()


@pytest.mark.django_db
def test_an_inserted_entry_is_named():
    _fill(10)
    _drop_guards()
    # A forged entry, correctly hashed and linked after #5; the later entries move up by one.
    _raw("UPDATE registry_auditentry SET seq = seq + 1 WHERE seq > 5")
    forged = AuditEntry.objects.get(seq=5)
    forged.pk = None
    forged.seq, forged.prev_hash, forged.summary = 6, forged.content_hash, "forged approval"
    forged.content_hash = content_hash_of(forged.chain_content())
    forged.save(force_insert=True)
    message = _verify_message()
    assert "entry #6 was inserted" in message


@pytest.mark.django_db
def test_a_forged_checkpoint_signature_is_found():
    _fill(3)
    checkpoint = checkpoint_sign()
    _raw("DROP TRIGGER registry_auditcheckpoint_append_only ON registry_auditcheckpoint")
    _raw("UPDATE registry_auditcheckpoint SET signature = %s WHERE id = %s", ["00" * 64, checkpoint.pk])
    assert "checkpoint #3" in _verify_message() and "invalid signature" in _verify_message()


@pytest.mark.django_db
def test_prune_removes_whole_checkpointed_segments_and_verification_stays_green():
    _fill(20)
    first = checkpoint_sign()
    _fill(5)
    assert chain_prune_before(first, batch=7) == 20
    assert AuditEntry.objects.count() == 5
    assert AuditEntry.objects.order_by("seq").first().seq == 21
    assert AuditPrune.objects.get().through_seq == 20
    assert AuditCheckpoint.objects.filter(pk=first.pk).exists()  # the signed head is kept
    report = chain_verify()
    assert report.ok, report.problem
    assert (report.first_seq, report.head_seq, report.entries_checked) == (21, 25, 5)
    # Appending after a prune continues the chain; pruning again is idempotent.
    chain_append(action="test.after_prune")
    assert chain_prune_before(first) == 0
    assert chain_verify().ok
    # A prune of everything: the next entry links to the pruned checkpoint's head.
    second = checkpoint_sign()
    chain_prune_before(second)
    assert not AuditEntry.objects.exists()
    assert chain_append(action="test.after_full_prune").seq == second.seq + 1
    assert chain_verify().ok


@pytest.mark.django_db
def test_prune_refuses_a_checkpoint_that_does_not_match_its_entry():
    _fill(5)
    checkpoint = checkpoint_sign()
    _drop_guards()
    _raw("UPDATE registry_auditentry SET content_hash = %s WHERE seq = 5", ["f" * 64])
    with pytest.raises(ValueError, match="does not match"):
        chain_prune_before(checkpoint)
    assert AuditEntry.objects.count() == 5


@pytest.mark.django_db
def test_a_checkpoint_is_signed_once_per_head_and_verifies():
    _fill(2)
    first = checkpoint_sign()
    assert checkpoint_sign() == first
    assert checkpoint_sign(force=True) != first
    assert checkpoint_signature_valid(first)
    call_command("audit_checkpoint")


@pytest.mark.django_db
def test_a_failed_rollback_leaves_no_gap():
    _fill(2)
    with pytest.raises(InternalError), transaction.atomic():
        chain_append(action="test.rolled_back")
        raise InternalError("the business transaction failed")
    assert chain_append(action="test.next").seq == 3
    assert chain_verify().ok


@pytest.mark.django_db
def test_a_checkpoint_signed_by_an_untrusted_key_is_refused(monkeypatch):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from registry import audit_signing

    _fill(3)
    checkpoint_sign()
    # Another key (a rotation, or someone with database access minting their own).
    other = Ed25519PrivateKey.generate()
    original = audit_signing.signing_key
    monkeypatch.setattr(audit_signing, "signing_key", lambda: other)
    foreign = checkpoint_sign(force=True)
    monkeypatch.setattr(audit_signing, "signing_key", original)
    assert "is signed by key" in _verify_message()
    monkeypatch.setenv("QUORUM_AUDIT_TRUSTED_KEY_IDS", foreign.key_id)
    call_command("audit_verify")


@pytest.mark.django_db
def test_an_append_is_one_statement_and_hashes_as_python_does():
    """The database hashes the canonical text Python rendered (issue 22, item 3): awkward text
    (non-ASCII, escapes, quotes, a nested "prev_hash" key) hashes the same, and verifies."""
    from django.test.utils import CaptureQueriesContext

    payload = {"prev_hash": "x", "seq": "y", "text": 'Zürich "quoted" \\ back\nslash ✓ 🙂', "n": 1.5, "none": None}
    with CaptureQueriesContext(connection) as ctx:
        entry = chain_append(action="test.text", summary='Ünïcode ✓ "q" \\', payload=payload)
    assert len(ctx.captured_queries) == 1
    stored = AuditEntry.objects.get(seq=entry.seq)
    assert stored.pk == entry.pk and stored.content_hash == entry.content_hash
    assert content_hash_of(stored.chain_content()) == stored.content_hash
    assert chain_verify().ok


@pytest.mark.django_db
def test_a_batch_writes_its_entries_in_one_statement_in_order():
    from django.test.utils import CaptureQueriesContext

    from registry.audit_chain import chain_batch

    _fill(1)
    with CaptureQueriesContext(connection) as ctx, transaction.atomic(), chain_batch():
        entries = [chain_append(action="test.batch", summary=f"entry {n}", payload={"n": n}) for n in range(4)]
        with chain_batch():  # joins the outer batch
            entries.append(chain_append(action="test.batch", summary="inner"))
        assert AuditEntry.objects.filter(action="test.batch").count() == 0  # queued until the end
    appends = [q for q in ctx.captured_queries if "registry_audit_chain_append" in q["sql"]]
    assert len(appends) == 1
    assert [e.seq for e in entries] == [2, 3, 4, 5, 6]
    assert list(AuditEntry.objects.filter(seq__gt=1).values_list("summary", flat=True)) == [
        "entry 0",
        "entry 1",
        "entry 2",
        "entry 3",
        "inner",
    ]
    assert chain_verify().ok


@pytest.mark.django_db
def test_a_failed_batch_writes_nothing():
    from registry.audit_chain import chain_batch

    _fill(1)
    with pytest.raises(InternalError), transaction.atomic(), chain_batch():
        chain_append(action="test.rolled_back")
        raise InternalError("the business transaction failed")
    assert chain_append(action="test.next").seq == 2
    assert chain_verify().ok


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_form_one_gap_free_chain():
    from registry.audit_chain import chain_batch

    start = AuditEntry.objects.count()
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            barrier.wait()
            for batch in range(5):
                with transaction.atomic(), chain_batch():
                    for n in range(3):
                        chain_append(action="test.concurrent", summary=f"writer {number} batch {batch} entry {n}")
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    seqs = list(AuditEntry.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, start + 61))
    report = chain_verify()
    assert report.ok, report.problem
