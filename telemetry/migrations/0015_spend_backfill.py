"""The budget's spend counters back-filled from runs stored before they existed (issue 18, item 5).

``registry.0015_budgets_that_act`` started the month and day counters empty: runs received before
it was applied never reached them, so an agent's spend this month (and today) ignored them. This
adds the cost of every run received before that migration's ``applied`` time to its month and day
counters (in ``ACTIONS_CONTEXT_TIME_ZONE``, like the live counters), once: the
``telemetry_spendbackfill`` row it inserts first is the guard (unique ``counted_before``; a second
run inserts nothing and so adds nothing). Runs are not steps: steps are untouched. Months are
written before days (the live writers' lock order). Reversible: the reverse subtracts the same sums
and deletes the row. The SQL is this migration's own (frozen), not the services'.
"""

from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

# The runs a back-fill covers, summed per agent and period; ``mark`` is the CTE naming the watermark.
_SUMS = """
sums AS (
    SELECT r.agent_id, v.period, v.key, sum(r.cost_usd) AS cost
    FROM telemetry_run r
    JOIN mark ON r.received_at < mark.counted_before
    CROSS JOIN LATERAL (VALUES
        ('month', to_char(r.started_at AT TIME ZONE %(zone)s, 'YYYY-MM')),
        ('day', to_char(r.started_at AT TIME ZONE %(zone)s, 'YYYY-MM-DD'))
    ) AS v(period, key)
    WHERE r.cost_usd > 0
    GROUP BY r.agent_id, v.period, v.key
)"""

FORWARD = f"""
WITH landed AS (
    SELECT max(applied) AS at FROM django_migrations WHERE app = 'registry' AND name = '0015_budgets_that_act'
), mark AS (
    INSERT INTO telemetry_spendbackfill (counted_before, runs, cost_usd, done_at)
    SELECT landed.at,
        (SELECT count(*) FROM telemetry_run r WHERE r.received_at < landed.at AND r.cost_usd > 0),
        (SELECT coalesce(sum(r.cost_usd), 0) FROM telemetry_run r WHERE r.received_at < landed.at),
        now()
    FROM landed
    WHERE landed.at IS NOT NULL
    ON CONFLICT (counted_before) DO NOTHING
    RETURNING counted_before
), {_SUMS}
INSERT INTO registry_spendcounter AS c (agent_id, period, key, cost_usd, steps, updated_at)
SELECT agent_id, period, key, cost, 0, now() FROM sums
ORDER BY agent_id, period <> 'month', key
ON CONFLICT (agent_id, period, key) DO UPDATE
    SET cost_usd = c.cost_usd + EXCLUDED.cost_usd, updated_at = EXCLUDED.updated_at
"""  # noqa: S608 (our own SQL; the zone is a parameter)

REVERSE = f"""
WITH mark AS (
    DELETE FROM telemetry_spendbackfill RETURNING counted_before
), {_SUMS}
UPDATE registry_spendcounter c SET cost_usd = greatest(c.cost_usd - sums.cost, 0), updated_at = now()
FROM sums
WHERE c.agent_id = sums.agent_id AND c.period = sums.period AND c.key = sums.key
"""  # noqa: S608 (our own SQL; the zone is a parameter)


def _params() -> dict:
    return {"zone": settings.ACTIONS_CONTEXT_TIME_ZONE}


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0015_budgets_that_act"),
        ("telemetry", "0014_run_partitioned"),
    ]

    operations = [
        migrations.CreateModel(
            name="SpendBackfill",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("counted_before", models.DateTimeField(unique=True)),
                ("runs", models.PositiveIntegerField(help_text="Runs with a cost added to the counters.")),
                ("cost_usd", models.DecimalField(decimal_places=6, max_digits=16)),
                ("done_at", models.DateTimeField(default=timezone.now)),
            ],
        ),
        migrations.RunSQL(sql=[(FORWARD, _params())], reverse_sql=[(REVERSE, _params())]),
    ]
