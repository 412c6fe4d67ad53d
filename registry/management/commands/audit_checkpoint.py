from django.core.management.base import BaseCommand

from registry.audit_chain import checkpoint_sign


class Command(BaseCommand):
    help = "Sign the audit chain's current head now (Ed25519) and store the checkpoint."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="sign even if the head has not moved")

    def handle(self, *args, force=False, **options):
        checkpoint = checkpoint_sign(force=force)
        self.stdout.write(
            self.style.SUCCESS(
                f"checkpoint of entry #{checkpoint.seq} head {checkpoint.head_hash[:16]}… "
                f"signed {checkpoint.signed_at:%Y-%m-%d %H:%M:%S} UTC by key {checkpoint.key_id}"
            )
        )
