import django_filters
from django.db.models import Q

from .choices import AgentStatus, RiskTier
from .models import Agent, Team


class AgentFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    risk_tier = django_filters.ChoiceFilter(choices=RiskTier.choices, label="Tier", empty_label="Any tier")
    status = django_filters.ChoiceFilter(choices=AgentStatus.choices, empty_label="Any status")
    owner_team = django_filters.ModelChoiceFilter(
        queryset=Team.objects.all(),
        field_name="owner_team",
        label="Team",
        empty_label="Any team",
        to_field_name="slug",
    )
    sort = django_filters.OrderingFilter(
        fields=(
            ("name", "name"),
            ("risk_tier", "tier"),
            ("status", "status"),
            ("owner_team__name", "team"),
            ("next_review_due", "review"),
        ),
        label="Sort",
        # Not django-filter's bare "---------": say what choosing nothing does.
        empty_label="Sort: default",
    )

    class Meta:
        model = Agent
        fields = ["q", "risk_tier", "status", "owner_team"]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(name__icontains=value) | Q(slug__icontains=value) | Q(purpose__icontains=value))
