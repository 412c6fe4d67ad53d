"""Drop the spans' (agent_id, start_time) index (issue 16).

No query reads spans by agent and time: a trace is read by (agent_id, trace_id) (the replay, the
serious-incident evidence, the ingest's read-back of stored children) and retention by start_time
(the primary key). The index was only ever chosen by mistake: on a day partition not yet analysed,
the ingest's read-back of a trace's stored spans cost the same through it as through the
(agent_id, trace_id) index, and PostgreSQL scanned every span of the agent since the earliest root
(15–38 ms per 512-span export in the bench, growing through the day, instead of under 1 ms). It
also cost each COPY of spans one more index to maintain. Dropping the parent's index drops every
partition's; the reverse builds it again."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("telemetry", "0015_spend_backfill")]

    operations = [
        migrations.RunSQL(
            "DROP INDEX IF EXISTS telemetry_span_agent_start",
            "CREATE INDEX telemetry_span_agent_start ON telemetry_span (agent_id, start_time)",
        )
    ]
