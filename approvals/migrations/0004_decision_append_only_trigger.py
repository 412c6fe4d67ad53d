"""Decisions are append-only at the database too: UPDATE and DELETE raise, from any client.

(The model and queryset refuse as well; this covers raw SQL and other programs. TRUNCATE, used
only by test teardown, is not a row operation and is not affected.)"""

from django.db import migrations

PG_UP = """
CREATE OR REPLACE FUNCTION approvals_decision_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'approval decisions are never edited or deleted' USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER approvals_decision_append_only
    BEFORE UPDATE OR DELETE ON approvals_decision
    FOR EACH ROW EXECUTE FUNCTION approvals_decision_append_only();
"""
PG_DOWN = """
DROP TRIGGER IF EXISTS approvals_decision_append_only ON approvals_decision;
DROP FUNCTION IF EXISTS approvals_decision_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("approvals", "0003_beat_schedules")]

    # PostgreSQL is the only engine (config/settings.py refuses others).
    operations = [migrations.RunSQL(PG_UP, PG_DOWN)]
