from django.core.management.base import BaseCommand

from registry.demo import DEMO_PASSWORD, DEMO_USERS, seed_registry
from registry.extensions import demo_seeders


class Command(BaseCommand):
    help = "Load realistic demo data (idempotent: running it again changes nothing)."

    def handle(self, *args, **options):
        seed_registry()
        # The other apps' seeders, registered from their AppConfig.ready() in layer order.
        for seed in demo_seeders:
            seed(stdout=self.stdout)
        self.stdout.write(self.style.SUCCESS(f"Demo data ready. Logins (password {DEMO_PASSWORD!r}):"))
        for username, first, last, role, _teams in DEMO_USERS:
            self.stdout.write(f"  {username:<10} {first} {last} — {role or 'superuser'}")
