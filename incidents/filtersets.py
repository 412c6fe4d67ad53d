from datetime import timedelta

import django_filters
from django.db.models import Q
from django.utils import timezone

from registry.models import Agent

from .choices import ACTIVE_STATUSES, PENDING_ITEM_STATES, ActionItemState, IncidentStatus, Severity
from .models import ActionItem, Incident

AGE_CHOICES = [
    ("1d", "Last 24 hours"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("older", "Older than 30 days"),
]
AGE_DAYS = {"1d": 1, "7d": 7, "30d": 30}


class IncidentFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    severity = django_filters.ChoiceFilter(choices=Severity.choices, empty_label="Any severity")
    status = django_filters.ChoiceFilter(
        choices=[("active", "Active (open or mitigated)"), *IncidentStatus.choices],
        method="filter_status",
        empty_label="Any status",
    )
    agent = django_filters.ModelChoiceFilter(
        queryset=Agent.objects.all(), to_field_name="slug", empty_label="Any agent", label="Agent"
    )
    age = django_filters.ChoiceFilter(choices=AGE_CHOICES, method="filter_age", empty_label="Any age", label="Detected")

    class Meta:
        model = Incident
        fields = ["q", "severity", "status", "agent", "age"]

    def __init__(self, *args, agents=None, **kwargs):
        super().__init__(*args, **kwargs)
        if agents is not None:
            self.filters["agent"].queryset = agents
            self.form.fields["agent"].queryset = agents

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        if value.upper().startswith("INC-") and value[4:].isdigit():
            return queryset.filter(pk=int(value[4:]))
        return queryset.filter(Q(title__icontains=value) | Q(summary__icontains=value))

    def filter_status(self, queryset, name, value):
        if value == "active":
            return queryset.filter(status__in=ACTIVE_STATUSES)
        return queryset.filter(status=value)

    def filter_age(self, queryset, name, value):
        now = timezone.now()
        if value == "older":
            return queryset.filter(detected_at__lt=now - timedelta(days=30))
        return queryset.filter(detected_at__gte=now - timedelta(days=AGE_DAYS[value]))


class ActionItemFilterSet(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(
        choices=[("pending", "Open or in progress"), *ActionItemState.choices],
        method="filter_state",
        empty_label="Any state",
    )
    overdue = django_filters.BooleanFilter(method="filter_overdue", label="Overdue only")
    mine = django_filters.BooleanFilter(method="filter_mine", label="Mine only")

    class Meta:
        model = ActionItem
        fields = ["state", "overdue", "mine"]

    def filter_state(self, queryset, name, value):
        if value == "pending":
            return queryset.filter(state__in=PENDING_ITEM_STATES)
        return queryset.filter(state=value)

    def filter_overdue(self, queryset, name, value):
        if value:
            return queryset.filter(state__in=PENDING_ITEM_STATES, due_on__lt=timezone.localdate())
        return queryset

    def filter_mine(self, queryset, name, value):
        if value:
            return queryset.filter(owner=self.request.user)
        return queryset
