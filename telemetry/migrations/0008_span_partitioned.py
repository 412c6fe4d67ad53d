"""Spans received over OTLP, kept for replay: a table partitioned by day on ``start_time``
(partitions are made by ``telemetry.partitions``: ahead of time by beat, on demand by ingest)."""

from django.db import migrations, models

# Django cannot declare a partitioned table: the model above is unmanaged, the table is made here.
# A partitioned table's primary key must hold the partition column, hence (start_time, id).
CREATE_SQL = """
CREATE TABLE telemetry_span (
    id bigserial NOT NULL,
    agent_id bigint NOT NULL,
    trace_id varchar(32) NOT NULL,
    span_id varchar(16) NOT NULL,
    parent_span_id varchar(16) NOT NULL DEFAULT '',
    name varchar(200) NOT NULL,
    operation varchar(40) NOT NULL DEFAULT '',
    start_time timestamptz NOT NULL,
    end_time timestamptz NOT NULL,
    duration_us bigint NOT NULL DEFAULT 0,
    status_code smallint NOT NULL DEFAULT 0,
    status_message varchar(500) NOT NULL DEFAULT '',
    service_name varchar(200) NOT NULL DEFAULT '',
    attributes jsonb NOT NULL DEFAULT '{}',
    events jsonb NOT NULL DEFAULT '[]',
    received_at timestamptz NOT NULL,
    PRIMARY KEY (start_time, id),
    CONSTRAINT telemetry_span_ended_after_start CHECK (end_time >= start_time),
    CONSTRAINT telemetry_span_status_valid CHECK (status_code BETWEEN 0 AND 2)
) PARTITION BY RANGE (start_time);
CREATE INDEX telemetry_span_agent_trace ON telemetry_span (agent_id, trace_id);
CREATE INDEX telemetry_span_agent_start ON telemetry_span (agent_id, start_time);
"""
DROP_SQL = "DROP TABLE telemetry_span;"


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0006_agentapikey_from_telemetry"),
        ("telemetry", "0007_agentapikey_moved_to_registry"),
    ]

    operations = [
        migrations.RunSQL(CREATE_SQL, DROP_SQL),
        migrations.CreateModel(
            name="Span",
            fields=[
                ("id", models.BigIntegerField(primary_key=True, serialize=False)),
                ("trace_id", models.CharField(max_length=32)),
                ("span_id", models.CharField(max_length=16)),
                ("parent_span_id", models.CharField(blank=True, max_length=16)),
                ("name", models.CharField(max_length=200)),
                ("operation", models.CharField(blank=True, help_text="gen_ai.operation.name (mapped).", max_length=40)),
                ("start_time", models.DateTimeField()),
                ("end_time", models.DateTimeField()),
                ("duration_us", models.BigIntegerField(default=0)),
                ("status_code", models.SmallIntegerField(default=0, help_text="OTLP: 0 unset, 1 ok, 2 error.")),
                ("status_message", models.CharField(blank=True, max_length=500)),
                ("service_name", models.CharField(blank=True, max_length=200)),
                ("attributes", models.JSONField(default=dict)),
                ("events", models.JSONField(default=list)),
                ("received_at", models.DateTimeField()),
            ],
            options={
                "db_table": "telemetry_span",
                "managed": False,
            },
        ),
    ]
