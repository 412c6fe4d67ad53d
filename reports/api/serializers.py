from __future__ import annotations

from rest_framework import serializers

PERIOD_DAYS = (7, 30, 90, 180, 365)


class PeriodQuerySerializer(serializers.Serializer):
    days = serializers.ChoiceField(
        choices=PERIOD_DAYS,
        required=False,
        default=90,
        help_text="Length of the period, ending today: 7, 30, 90, 180 or 365 days.",
    )


class MetricsSerializer(serializers.Serializer):
    runs = serializers.IntegerField()
    successes = serializers.IntegerField()
    escalations = serializers.IntegerField()
    failures = serializers.IntegerField()
    policy_blocks = serializers.IntegerField()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    human_minutes = serializers.DecimalField(max_digits=16, decimal_places=2)
    success_rate_pct = serializers.DecimalField(max_digits=5, decimal_places=1, allow_null=True)
    escalation_rate_pct = serializers.DecimalField(max_digits=5, decimal_places=1, allow_null=True)
    intervention_rate_pct = serializers.DecimalField(max_digits=5, decimal_places=1, allow_null=True)
    containment_pct = serializers.DecimalField(max_digits=5, decimal_places=1, allow_null=True)
    aht_seconds = serializers.DecimalField(max_digits=12, decimal_places=1, allow_null=True)
    latency_p50_ms = serializers.SerializerMethodField()
    latency_p95_ms = serializers.SerializerMethodField()

    def get_latency_p50_ms(self, m) -> int | None:
        return m.latency_pct_ms(50)

    def get_latency_p95_ms(self, m) -> int | None:
        return m.latency_pct_ms(95)


def money(**kw):
    return serializers.DecimalField(max_digits=18, decimal_places=2, allow_null=True, **kw)


class RoiSerializer(serializers.Serializer):
    agent = serializers.SlugField(source="agent.slug")
    name = serializers.CharField(source="agent.name")
    start = serializers.DateField()
    end = serializers.DateField()
    live_days = serializers.IntegerField()
    metrics = MetricsSerializer()
    minutes_automated = serializers.DecimalField(max_digits=18, decimal_places=2)
    value_usd = money()
    model_cost_usd = money()
    infra_cost_usd = money()
    ops_cost_usd = money()
    total_cost_usd = money()
    savings_usd = money()
    annualized_savings_usd = money()
    incident_cost_usd = money()
    net_of_incidents_usd = money()
    roi_multiple = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    payback_months = serializers.DecimalField(max_digits=12, decimal_places=1, allow_null=True)
    cost_per_success_usd = serializers.DecimalField(max_digits=18, decimal_places=4, allow_null=True)
    below_thresholds = serializers.ListField(child=serializers.CharField())


class PeriodRoiSerializer(serializers.Serializer):
    label = serializers.CharField()
    grain = serializers.ChoiceField(choices=["week", "month"])
    roi = RoiSerializer()


class AgentRoiSerializer(serializers.Serializer):
    roi = RoiSerializer()
    periods = PeriodRoiSerializer(many=True)


class PortfolioTotalsSerializer(serializers.Serializer):
    metrics = MetricsSerializer()
    value_usd = money()
    total_cost_usd = money()
    savings_usd = money()
    annualized_savings_usd = money()
    incident_cost_usd = money()
    net_of_incidents_usd = money()
    roi_multiple = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)


class PortfolioSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    totals = PortfolioTotalsSerializer()
    agents = RoiSerializer(many=True, source="rois")


class AnswerSerializer(serializers.Serializer):
    stage = serializers.IntegerField()
    key = serializers.CharField()
    question = serializers.CharField()
    yes = serializers.BooleanField()
    evidence = serializers.CharField()
    next_step = serializers.CharField()


class MaturitySerializer(serializers.Serializer):
    stage = serializers.IntegerField()
    name = serializers.CharField()
    answers = AnswerSerializer(many=True)
    deciding = AnswerSerializer(many=True)
    next_needs = AnswerSerializer(many=True)


class DueReviewSerializer(serializers.Serializer):
    agent = serializers.SlugField(source="agent.slug")
    risk_tier = serializers.IntegerField(source="agent.risk_tier")
    due_on = serializers.DateField()
    kind = serializers.CharField()
    review_id = serializers.IntegerField(source="review.pk", allow_null=True, default=None)
    is_overdue = serializers.BooleanField()


class ReportErrorItemSerializer(serializers.Serializer):
    code = serializers.CharField()
    field = serializers.CharField(allow_null=True)
    message = serializers.CharField()


class ReportErrorSerializer(serializers.Serializer):
    """The project's error shape (``config/api_errors.py``)."""

    errors = ReportErrorItemSerializer(many=True)
