"""Fixtures for the incident tests: an incident factory and a deployed version."""

from __future__ import annotations

import pytest

from incidents import services
from incidents.choices import DetectionSource, FailureMode, Severity
from tests.factories import AgentVersionFactory, UserFactory


@pytest.fixture
def deployed_version(agent):
    return AgentVersionFactory(agent=agent, label="2.0", state="deployed")


@pytest.fixture
def commander(db):
    return UserFactory(username="commander", email="commander@example.test")


@pytest.fixture
def open_incident(agent, operator_user):
    def _open(severity=Severity.SEV2, failure_mode=FailureMode.QUALITY_REGRESSION, **kwargs):
        kwargs.setdefault("title", "Refunds issued twice")
        kwargs.setdefault("detection_source", DetectionSource.MONITORING)
        kwargs.setdefault("opened_by", operator_user)
        incident, _ = services.incident_open_or_link(
            agent=kwargs.pop("agent", agent), severity=severity, failure_mode=failure_mode, **kwargs
        )
        return incident

    return _open
