from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils.module_loading import import_string

from registry.demo import DEMO_PASSWORD, DEMO_USERS, seed_registry


class Command(BaseCommand):
    help = "Load realistic demo data (idempotent: running it again changes nothing)."

    def handle(self, *args, **options):
        seed_registry()
        for path in getattr(settings, "QUORUM_DEMO_SEEDERS", []):
            import_string(path)(stdout=self.stdout)
        self.stdout.write(self.style.SUCCESS(f"Demo data ready. Logins (password {DEMO_PASSWORD!r}):"))
        for username, first, last, role, _teams in DEMO_USERS:
            self.stdout.write(f"  {username:<10} {first} {last} — {role or 'superuser'}")
