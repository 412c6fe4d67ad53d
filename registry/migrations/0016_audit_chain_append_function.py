"""One round trip for appending to the audit chain (issue 22, item 3).

``registry_audit_chain_append(key, entries)`` takes the chain's lock and reads the head (the
function of migration 0009, so the race it closes stays closed the same way), then inserts each
entry of the JSON array in order, chaining them: entry n+1's ``prev_hash`` is entry n's
``content_hash``. The entry format does not change: Python renders each entry's canonical JSON
(``registry.audit_chain``) with the two values only the database knows left out, as three pieces
of text (before the ``prev_hash`` value, between it and the ``seq`` value, after it), and the
function fills them in and takes the SHA-256 of the UTF-8 bytes, which is exactly what
``content_hash_of`` computes. Python then checks the hashes the function returns against its own,
so a mismatch fails the transaction instead of storing an entry the verifier would reject."""

from django.db import migrations

PG_UP = """
CREATE OR REPLACE FUNCTION registry_audit_chain_append(lock_key bigint, entries jsonb)
    RETURNS TABLE (entry_id bigint, entry_seq bigint, entry_prev varchar, entry_hash varchar) VOLATILE AS $$
DECLARE
    cur_seq bigint;
    cur_hash varchar;
    e jsonb;
BEGIN
    SELECT h.head_seq, h.head_hash INTO cur_seq, cur_hash FROM registry_audit_chain_lock_head(lock_key) h;
    IF cur_seq IS NULL THEN
        cur_seq := 0;
        cur_hash := repeat('0', 64);
    END IF;
    FOR e IN SELECT value FROM jsonb_array_elements(entries) LOOP
        entry_seq := cur_seq + 1;
        entry_prev := cur_hash;
        entry_hash := encode(sha256(convert_to(
            (e->>'text_before_prev') || entry_prev || (e->>'text_before_seq') || entry_seq::text
            || (e->>'text_after_seq'), 'UTF8')), 'hex');
        INSERT INTO registry_auditentry (seq, prev_hash, content_hash, occurred_at, actor_kind, actor_id,
                actor_label, agent_id, object_type, object_id, action, summary, payload)
            VALUES (entry_seq, entry_prev, entry_hash, (e->>'occurred_at')::timestamptz, e->>'actor_kind',
                (e->>'actor_id')::bigint, e->>'actor_label', (e->>'agent_id')::bigint, e->>'object_type',
                e->>'object_id', e->>'action', e->>'summary', e->'payload')
            RETURNING id INTO entry_id;
        cur_seq := entry_seq;
        cur_hash := entry_hash;
        RETURN NEXT;
    END LOOP;
END;
$$ LANGUAGE plpgsql;
"""
PG_DOWN = "DROP FUNCTION IF EXISTS registry_audit_chain_append(bigint, jsonb);"


class Migration(migrations.Migration):
    dependencies = [("registry", "0015_budgets_that_act")]

    operations = [migrations.RunSQL(PG_UP, PG_DOWN)]
