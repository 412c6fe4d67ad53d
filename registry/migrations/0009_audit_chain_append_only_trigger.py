"""Audit-chain rows and checkpoints are append-only at the database: UPDATE and DELETE raise;
and the function that serialises appends (lock, then read the head).

One exception, for retention: ``registry.audit_chain.chain_prune_before`` sets the transaction-local
setting ``quorum.audit_prune_through`` to the seq of a signed checkpoint, and only entries at or below
it may then be deleted. Checkpoints are never deleted (they are the signed heads of pruned segments).
TRUNCATE (test teardown's flush) is not a row operation and is not affected.

``registry_audit_chain_lock_head(key)`` takes the chain's transaction-scoped advisory lock and then
returns the head (seq, content_hash): after a prune of everything, the pruned checkpoint's head;
nothing for an empty chain. One round trip instead of two, and still correct: the function is
VOLATILE, so in READ COMMITTED its head query takes a snapshot after the lock was granted and sees
every entry committed before (``registry/audit_chain.py`` explains the race this closes)."""

from django.db import migrations

PG_UP = """
CREATE OR REPLACE FUNCTION registry_auditentry_append_only() RETURNS trigger AS $$
DECLARE
    through bigint := NULLIF(current_setting('quorum.audit_prune_through', true), '')::bigint;
BEGIN
    IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'registry_auditentry' AND through IS NOT NULL AND OLD.seq <= through THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit chain rows are never edited or deleted (%)', TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
CREATE OR REPLACE FUNCTION registry_audit_chain_lock_head(lock_key bigint)
    RETURNS TABLE (head_seq bigint, head_hash varchar) VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    RETURN QUERY SELECT e.seq, e.content_hash FROM registry_auditentry e ORDER BY e.seq DESC LIMIT 1;
    IF NOT FOUND THEN
        RETURN QUERY SELECT c.seq, c.head_hash FROM registry_auditprune p
            JOIN registry_auditcheckpoint c ON c.id = p.checkpoint_id ORDER BY p.through_seq DESC LIMIT 1;
    END IF;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER registry_auditentry_append_only
    BEFORE UPDATE OR DELETE ON registry_auditentry
    FOR EACH ROW EXECUTE FUNCTION registry_auditentry_append_only();
CREATE TRIGGER registry_auditcheckpoint_append_only
    BEFORE UPDATE OR DELETE ON registry_auditcheckpoint
    FOR EACH ROW EXECUTE FUNCTION registry_auditentry_append_only();
"""
PG_DOWN = """
DROP TRIGGER IF EXISTS registry_auditentry_append_only ON registry_auditentry;
DROP TRIGGER IF EXISTS registry_auditcheckpoint_append_only ON registry_auditcheckpoint;
DROP FUNCTION IF EXISTS registry_auditentry_append_only();
DROP FUNCTION IF EXISTS registry_audit_chain_lock_head(bigint);
"""


class Migration(migrations.Migration):
    dependencies = [("registry", "0008_audit_chain")]

    operations = [migrations.RunSQL(PG_UP, PG_DOWN)]
