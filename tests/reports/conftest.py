import pytest


@pytest.fixture
def eager_celery():
    """Tasks enqueued after commit run in-process, so e-mails land in ``mail.outbox``."""
    from config.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _no_settle_delay(settings):
    settings.REPORTS_ROLLUP_SETTLE_SECONDS = 0
