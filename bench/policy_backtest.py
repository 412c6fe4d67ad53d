"""Policy backtest at scale (``make bench`` or ``python -m bench policy_backtest``), on ``bench.harness``.

On its own fresh database: the seeded ``payments.refund`` policy and ``--actions`` recorded
action requests (1,000,000) over the last 7 days, loaded by ``COPY``. Each row's decision is
what the policy in force decides for its parameters (``policy_outcome``, the gate's evaluator);
amounts are log-normal with cents, half the requests carry a unique order id (so parameter
tuples rarely repeat: the replay cannot lean on its cache), one in ten a redacted card number,
and pending ones were later approved, denied or expired by people. Then
:func:`actions.backtest.policy_backtest` replays the whole week against a draft that moves
some decisions, ``--rounds`` times (3) in a fresh interpreter each, with the spread and an A/A
control (round against round). Goal: ≤ 60 s for 1,000,000 requests (``--full``; by default 250,000
requests against 15 s, so that ``make bench`` fits its 15 minutes). Every round checks the
counts add up (replayed + purged + gate-decided + refused = total = seeded)."""

from __future__ import annotations

import time

from bench import harness

SEED = r"""
import json, random, sys, time, uuid
from datetime import timedelta
from decimal import Decimal
import django
django.setup()
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from actions.demo import REFUND_POLICY, ensure_support_managers
from actions.models import ActionRequest
from actions.services import parameters_coerce, policy_outcome, policy_version_create
from registry.models import Agent, Team, Tool

n = int(sys.argv[1])
now = timezone.now()
ensure_support_managers(password="bench-only-password")
owner = get_user_model().objects.create(username="bench-owner")
team = Team.objects.create(slug="bench", name="Bench")
agent = Agent.objects.create(slug="bench-refunds", name="Refunds", purpose="bench", unit_of_work="refund",
    kpi_name="refunds", owner_team=team, owner=owner, status="production")
tool = Tool.objects.create(name="payments.refund", system="Stripe", action_tier=3)
policy = policy_version_create(tool=tool, **REFUND_POLICY)
fields = [f for f in ActionRequest._meta.concrete_fields]
rng = random.Random(18)
TIERS = ["standard", "pro", "enterprise"]
LATER = [("approved", "people"), ("denied", "people"), ("expired", "expiry")]
week = 7 * 24 * 3600
t = time.perf_counter()
with connection.cursor() as cur:
    with cur.connection.cursor().copy(
        "COPY actions_actionrequest (" + ", ".join(f.column for f in fields) + ") FROM STDIN"
    ) as copy:
        for i in range(n):
            params = {"amount_usd": round(rng.lognormvariate(3.5, 1.2), 2), "customer_tier": rng.choice(TIERS)}
            if i % 2:
                params["order_id"] = f"ord-{i:08d}"
            if i % 10 == 0:
                params["card_number"] = "[redacted]"
            values, _ = parameters_coerce(policy.fields, {k: v for k, v in params.items() if v != "[redacted]"})
            outcome = policy_outcome(tool=tool, rules=policy.rules, values=values)
            status, source = outcome.status, outcome.source
            if status == "pending":
                status, source = rng.choice(LATER)
            created = now - timedelta(seconds=rng.random() * week)
            row = {
                "id": uuid.uuid4(), "agent_id": agent.pk, "tool_id": tool.pk, "idempotency_key": f"k{i}",
                "fingerprint": "0" * 64, "parameters": json.dumps(params), "status": status, "source": source,
                "policy_version_id": policy.pk, "rule_number": outcome.rule_number, "rule_text": outcome.rule_text,
                "reason": outcome.reason, "required_approvals": outcome.required_approvals,
                "approver_role": ", ".join(outcome.roles), "approval_request_id": None, "change_request_id": None,
                "created_at": created, "expires_at": None, "decided_at": created, "webhook_delivered_at": None,
                "webhook_attempts": 0, "webhook_last_error": "", "parameters_purged_at": None,
                "decision_snapshot": None,
            }
            copy.write_row([row[f.column] for f in fields])
copy_s = time.perf_counter() - t
with connection.cursor() as cur:
    cur.execute("VACUUM ANALYZE actions_actionrequest")
print("RESULT", ActionRequest.objects.count(), round(copy_s, 1))
"""

DRAFT = """\
deny "A refund amount must be positive." if amount_usd <= 0
allow if amount_usd <= 100 and customer_tier in ['standard', 'pro']
deny "No enterprise refund above 2500" if amount_usd > 2500 and customer_tier == 'enterprise'
require 1 approval from "Support manager" if amount_usd > 100
deny "Test cards are refused" if card_number == '4242424242424242'"""

RUN = r"""
import sys, time
from datetime import timedelta
import django
django.setup()
from django.utils import timezone
from actions.backtest import policy_backtest
from actions.services import policy_current, policy_validate
from registry.models import Tool

tool = Tool.objects.get(name="payments.refund")
current = policy_current(tool=tool)
fields, rules, _r, _d = policy_validate(fields_source=current.fields_source, rules_source=sys.argv[1],
    redact_fields=[], retention_days=365)
now = timezone.now()
r = policy_backtest(tool=tool, fields=fields, rules=rules, start=now - timedelta(days=8), end=now)
assert r.replayed + r.purged + r.gate_decided + r.refused == r.total, r
print("RESULT", r.seconds, r.total, r.replayed, r.changed, r.redacted_fields.get("card_number", 0))
"""


def main(args: list[str] | None = None) -> dict:
    opts = harness.options("policy_backtest", args, actions=0, rounds=3)
    opts.actions = opts.actions or (1_000_000 if opts.full else 250_000)
    with harness.Stack("backtest", serve=False) as stack:
        count, copy_s = stack.python(SEED, str(opts.actions), timeout=3600)
        print(f"seeded {int(count):,} action requests by COPY in {copy_s}s")
        seen = {}

        def one_round() -> float:
            seconds, total, replayed, changed, redacted = stack.python(RUN, DRAFT, timeout=1800)
            if int(total) != opts.actions:
                raise RuntimeError(f"backtest saw {total} requests, seeded {opts.actions}")
            seen.update(total=int(total), replayed=int(replayed), changed=int(changed), redacted=int(redacted))
            return float(seconds)

        row = harness.measure(
            f"policy backtest: {opts.actions:,} recorded requests against a draft",
            one_round,
            unit="s",
            rounds=opts.rounds,
            goal=("<=", 60.0 * opts.actions / 1_000_000),
        )
        print(
            f"replayed {seen['replayed']:,} of {seen['total']:,}, {seen['changed']:,} decisions changed, "
            f"card_number redacted in {seen['redacted']:,}"
        )
    return {"seconds": row.figure(), "row": row.as_dict(), "started": time.time()}
