import logging

from celery import shared_task

from . import services

log = logging.getLogger(__name__)


@shared_task
def retention_purge() -> dict:
    """Nightly: purge what is past its retention, nothing under legal hold (see the service)."""
    run = services.retention_purge()
    log.info("retention purge: %s (held: %s)", run.counts, ", ".join(run.held_agents) or "none")
    return run.counts
