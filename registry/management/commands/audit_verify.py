from django.core.management.base import BaseCommand, CommandError

from registry.audit_chain import chain_verify


class Command(BaseCommand):
    help = (
        "Walk the audit chain and its signed checkpoints; report the first entry that was changed, "
        "deleted or inserted. Exit status 0 when the chain verifies, 1 otherwise."
    )

    def handle(self, *args, **options):
        report = chain_verify()
        for note in report.notes:
            self.stdout.write(f"note: {note}")
        if not report.ok:
            raise CommandError(
                f"audit chain BROKEN at entry #{report.bad_seq}: {report.problem} "
                f"({report.entries_checked} entries verified before it)",
                returncode=1,
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"audit chain OK: entries #{report.first_seq}–#{report.head_seq} "
                f"({report.entries_checked} entries), {report.checkpoints_checked} signed checkpoints verified"
            )
        )
