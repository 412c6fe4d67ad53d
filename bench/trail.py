""" "Why was this allowed?" at demo scale (``make bench`` or ``python -m bench trail``).

On the harness's stack (fresh database, ``seed_demo``, gunicorn with production settings), the
demo's pending refund is approved by both support managers, then an auditor's session reads:

* A: the action request's own page (``/actions/requests/<id>/``), the baseline;
* B: its "why was this allowed?" page (``/audit/why/actions/<id>/``), which joins the policy,
  approvals, kill switches, digest, eval run and the runs that followed.

Printed: the why-page's latency (one client, sequential requests; goal ≤ 300 ms) and the ratio of
its throughput to the request page's (interleaved with the A/A control)."""

from __future__ import annotations

from bench import harness

SETUP = r"""
import django; django.setup()
from importlib import import_module
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from actions.models import ActionRequest
from approvals.services import decision_record
User = get_user_model()
pending = ActionRequest.objects.filter(idempotency_key__startswith="demo-refund-2", status="pending")
action = pending.latest("created_at")
req = action.approval_request
for name in ("support1", "support2"):
    decision_record(request_id=req.pk, approver=User.objects.get(username=name), verdict="approve",
                    reason="Bench: checked.", payload_hash=req.payload_hash)
auditor = User.objects.get(username="auditor")
store = import_module(settings.SESSION_ENGINE).SessionStore()
store[SESSION_KEY] = str(auditor.pk)
store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
store[HASH_SESSION_KEY] = auditor.get_session_auth_hash()
store.create()
print("RESULT", action.pk, settings.SESSION_COOKIE_NAME, store.session_key)
"""


def main(args: list[str]) -> None:
    opts = harness.options("trail", args, requests=30, rounds=5)
    with harness.Stack("trail", workers=1, demo=True) as stack:
        action_id, cookie_name, session = stack.python(SETUP)
        cookie = {"Cookie": f"{cookie_name}={session}"}
        request_page = harness.get(f"/actions/requests/{action_id}/", headers=cookie)
        why_page = harness.get(f"/audit/why/actions/{action_id}/", headers=cookie)

        def why_ms() -> float:
            return 1000 / harness.http_load(stack.url, why_page, total=opts.requests // 2, clients=1)

        harness.measure(
            "why-was-this-allowed page, demo refund", why_ms, unit="ms", rounds=opts.rounds, goal=("<=", 300.0)
        )
        harness.compare(
            "why page ÷ request page (throughput)",
            lambda: harness.http_load(stack.url, request_page, total=opts.requests, clients=2),
            lambda: harness.http_load(stack.url, why_page, total=opts.requests, clients=2),
            unit="req/s",
            rounds=opts.rounds,
        )
