from django.core.management.base import BaseCommand

from trail.services import retention_purge


class Command(BaseCommand):
    help = (
        "Purge records past their retention (runs, run metadata, action parameters, incidents, "
        "audit entries), skipping agents under legal hold."
    )

    def handle(self, *args, **options):
        run = retention_purge()
        for family, count in run.counts.items():
            self.stdout.write(f"{family}: {count} purged (before {run.cutoffs.get(family, '')[:19]})")
        if run.held_agents:
            self.stdout.write("under legal hold, kept: " + ", ".join(run.held_agents))
