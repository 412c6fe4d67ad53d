"""factory_boy factories shared by every app's tests (a seeded Faker)."""

from __future__ import annotations

import hashlib
from decimal import Decimal

import factory
import factory.random
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from factory.django import DjangoModelFactory

from registry.models import Agent, AgentVersion, Team, Tool, ToolGrant

factory.Faker._DEFAULT_LOCALE = "en_US"
factory.random.reseed_random("quorum")


class UserFactory(DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    password = factory.PostGenerationMethodCall("set_password", "pw")

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        if create and extracted:
            for role in extracted:
                self.groups.add(Group.objects.get(name=role))
        if create:
            self.save()


class TeamFactory(DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"team-{n}")
    name = factory.Sequence(lambda n: f"Team {n}")


class AgentFactory(DjangoModelFactory):
    class Meta:
        model = Agent
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"agent-{n}")
    name = factory.Sequence(lambda n: f"Agent {n}")
    purpose = factory.Faker("sentence")
    unit_of_work = "ticket resolved"
    kpi_name = "first-contact resolution"
    owner_team = factory.SubFactory(TeamFactory)
    owner = factory.SubFactory(UserFactory)
    risk_tier = 2
    status = "production"
    monthly_budget_usd = Decimal("1000")


class ToolFactory(DjangoModelFactory):
    class Meta:
        model = Tool
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"system.tool_{n}")
    system = "system"
    action_tier = 2
    # The constraints a grant may set (typed, enforced by the action gate): an amount cap on
    # amount_usd, the two rates, and the allowed values of customer_tier / currency.
    constraint_schema = factory.LazyFunction(
        lambda: {
            "max_amount_usd": {"parameter": "amount_usd"},
            "max_per_hour": {},
            "max_per_day": {},
            "allowed_values": {"fields": ["customer_tier", "currency"]},
        }
    )


class AgentVersionFactory(DjangoModelFactory):
    class Meta:
        model = AgentVersion

    agent = factory.SubFactory(AgentFactory)
    label = factory.Sequence(lambda n: f"1.{n}")
    model_provider = "openai"
    model_name = "gpt-4o"
    prompt_ref = factory.LazyAttribute(lambda v: hashlib.sha256(v.label.encode()).hexdigest())
    policy_version = "1"


class ToolGrantFactory(DjangoModelFactory):
    class Meta:
        model = ToolGrant

    version = factory.SubFactory(AgentVersionFactory)
    tool = factory.SubFactory(ToolFactory)
    constraints = factory.LazyFunction(dict)
