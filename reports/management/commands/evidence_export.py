from datetime import UTC, datetime, time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from registry.models import Agent
from reports.evidence import evidence_export


def _moment(value: str | None, option: str) -> datetime | None:
    """``YYYY-MM-DD`` (midnight UTC) or an ISO date-time; a naive time is UTC."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{option}: {value!r} is not a date (YYYY-MM-DD) or ISO date-time") from None
    if len(value) == 10:
        parsed = datetime.combine(parsed.date(), time.min)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = (
        "Write an offline-verifiable evidence ZIP for one agent or the whole portfolio and a period "
        "(verify it with quorum-verify, tools/quorum_verify)."
    )

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--agent", metavar="SLUG", help="the agent's slug")
        which.add_argument("--portfolio", action="store_true", help="every agent")
        parser.add_argument("--since", help="start of the period (inclusive), YYYY-MM-DD or ISO date-time, UTC")
        parser.add_argument("--until", help="end of the period (exclusive), YYYY-MM-DD or ISO date-time, UTC")
        parser.add_argument("--out", required=True, metavar="FILE.zip", help="where to write the ZIP")

    def handle(self, *args, agent=None, portfolio=False, since=None, until=None, out, **options):
        since_at, until_at = _moment(since, "--since"), _moment(until, "--until")
        if since_at and until_at and since_at >= until_at:
            raise CommandError("--since must be before --until")
        subject = None
        if agent:
            subject = Agent.objects.filter(slug=agent).first()
            if subject is None:
                raise CommandError(f"--agent: no agent with slug {agent!r}")
        path = Path(out)
        if not path.parent.is_dir():
            raise CommandError(f"--out: directory {path.parent} does not exist")
        summary = evidence_export(
            out=str(path),
            agent=subject,
            since=since_at,
            until=until_at,
            generated_by="manage.py evidence_export",
            filename=path.name,
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"wrote {path}: {summary.files} files, {summary.audit_entries} audit entries in scope, "
                f"chain proof #{summary.first_seq}–#{summary.last_seq}, signed by key {summary.key_id}"
            )
        )
        self.stdout.write(f"verify: quorum-verify {path} --key-id {summary.key_id}")
