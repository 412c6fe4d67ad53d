"""Read-only report API: what the pages show, as JSON. Reads rollups only."""

from __future__ import annotations

from datetime import timedelta

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from registry.selectors import agents_visible_to
from reports import selectors
from reports.maturity import maturity_assess

from .serializers import (
    AgentRoiSerializer,
    DueReviewSerializer,
    MaturitySerializer,
    PeriodQuerySerializer,
    PortfolioSerializer,
    ReportErrorSerializer,
)


class CanViewReports(permissions.BasePermission):
    message = "You may not read reports."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.has_perm("reports.view_reports"))


def _period(request):
    query = PeriodQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    end = timezone.localdate() + timedelta(days=1)
    return end - timedelta(days=query.validated_data["days"]), end


DAYS_PARAM = OpenApiParameter(
    "days",
    int,
    description="Period length ending today: 7, 30, 90, 180 or 365 (default 90).",
    enum=[7, 30, 90, 180, 365],
)
BAD_DAYS = OpenApiExample(
    "Bad period",
    value={"errors": [{"code": "invalid_choice", "field": "days", "message": '"12" is not a valid choice.'}]},
    response_only=True,
    status_codes=["400"],
)
ERROR = ReportErrorSerializer

ROI_EXAMPLE = {
    "agent": "support-triage",
    "name": "Customer Support Triage",
    "start": "2026-08-24",
    "end": "2026-11-22",
    "live_days": 90,
    "metrics": {
        "runs": 12000,
        "successes": 10900,
        "escalations": 800,
        "failures": 200,
        "policy_blocks": 35,
        "input_tokens": 9000000,
        "output_tokens": 2400000,
        "human_minutes": "1500.00",
        "success_rate_pct": "90.8",
        "escalation_rate_pct": "6.7",
        "intervention_rate_pct": "8.1",
        "containment_pct": "93.3",
        "aht_seconds": "4.2",
        "latency_p50_ms": 3364,
        "latency_p95_ms": 9514,
    },
    "minutes_automated": "118400.00",
    "value_usd": "94720.00",
    "model_cost_usd": "1560.00",
    "infra_cost_usd": "7989.04",
    "ops_cost_usd": "13315.07",
    "total_cost_usd": "22864.11",
    "savings_usd": "71855.89",
    "annualized_savings_usd": "291416.11",
    "incident_cost_usd": "1200.00",
    "net_of_incidents_usd": "70655.89",
    "roi_multiple": "4.14",
    "payback_months": "4.9",
    "cost_per_success_usd": "0.9863",
    "below_thresholds": ["task success 90.8 % < 92 %"],
}


class PortfolioView(APIView):
    permission_classes = [CanViewReports]

    @extend_schema(
        operation_id="reports_portfolio",
        summary="Portfolio ROI: totals and every agent",
        parameters=[DAYS_PARAM],
        responses={200: PortfolioSerializer, 400: ERROR, 403: ERROR},
        examples=[
            OpenApiExample(
                "Portfolio",
                value={
                    "start": "2026-08-24",
                    "end": "2026-11-22",
                    "totals": {
                        "metrics": ROI_EXAMPLE["metrics"],
                        "value_usd": "94720.00",
                        "total_cost_usd": "22864.11",
                        "savings_usd": "71855.89",
                        "annualized_savings_usd": "291416.11",
                        "incident_cost_usd": "1200.00",
                        "net_of_incidents_usd": "70655.89",
                        "roi_multiple": "4.14",
                    },
                    "agents": [ROI_EXAMPLE],
                },
                response_only=True,
            ),
            BAD_DAYS,
        ],
    )
    def get(self, request):
        start, end = _period(request)
        p = selectors.portfolio(user=request.user, start=start, end=end)
        data = PortfolioSerializer(
            {"start": start, "end": end - timedelta(days=1), "totals": p.totals, "rois": p.rois}
        ).data
        return Response(data)


class AgentRoiView(APIView):
    permission_classes = [CanViewReports]

    @extend_schema(
        operation_id="reports_agent_roi",
        summary="One agent's ROI for the period, and per reporting period (weekly for 90 days, then monthly)",
        parameters=[DAYS_PARAM],
        responses={200: AgentRoiSerializer, 400: ERROR, 403: ERROR, 404: ERROR},
        examples=[
            OpenApiExample(
                "Agent ROI",
                value={
                    "roi": ROI_EXAMPLE,
                    "periods": [{"label": "October 2026", "grain": "month", "roi": ROI_EXAMPLE}],
                },
                response_only=True,
            ),
            BAD_DAYS,
        ],
    )
    def get(self, request, slug: str):
        agent = get_object_or_404(agents_visible_to(request.user), slug=slug)
        start, end = _period(request)
        roi = selectors.agent_roi(agent=agent, start=start, end=end)
        periods = selectors.agent_roi_by_period(agent=agent, periods=selectors.roi_periods(agent=agent, today=end))
        data = AgentRoiSerializer(
            {"roi": roi, "periods": [{"label": p.label, "grain": p.grain, "roi": r} for p, r in periods]}
        ).data
        return Response(data)


class MaturityView(APIView):
    permission_classes = [CanViewReports]

    @extend_schema(
        operation_id="reports_maturity",
        summary="The organisation's agent maturity stage (1–5) with the deciding answers",
        responses={200: MaturitySerializer, 403: ERROR},
        examples=[
            OpenApiExample(
                "Stage 3",
                value={
                    "stage": 3,
                    "name": "Production for one use case",
                    "answers": [],
                    "deciding": [
                        {
                            "stage": 4,
                            "key": "approval_workflow",
                            "question": "Is there a governance approval workflow for new agents and changes?",
                            "yes": False,
                            "evidence": "0 change requests decided in the last 180 days.",
                            "next_step": "Route go-lives and changes through approval requests.",
                        }
                    ],
                    "next_needs": [],
                },
                response_only=True,
            )
        ],
    )
    def get(self, request):
        return Response(MaturitySerializer(maturity_assess()).data)


class OverdueQuerySerializer(serializers.Serializer):
    overdue = serializers.BooleanField(required=False, default=False)


class ReviewsDueView(APIView):
    permission_classes = [CanViewReports]

    @extend_schema(
        operation_id="reports_reviews_due",
        summary="Reviews due in the next 90 days (open, or scheduled and not opened yet)",
        description="With overdue=true: only the overdue ones.",
        parameters=[OpenApiParameter("overdue", bool, description="Only overdue reviews.")],
        responses={200: DueReviewSerializer(many=True), 400: ERROR, 403: ERROR},
        examples=[
            OpenApiExample(
                "Due",
                value=[
                    {
                        "agent": "support-triage",
                        "risk_tier": 1,
                        "due_on": "2026-11-30",
                        "kind": "scheduled",
                        "review_id": 12,
                        "is_overdue": False,
                    }
                ],
                response_only=True,
            )
        ],
    )
    def get(self, request):
        query = OverdueQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        today = timezone.localdate()
        if query.validated_data["overdue"]:
            items = selectors.reviews_overdue(user=request.user, today=today)
        else:
            items = selectors.reviews_due(user=request.user, end=today + timedelta(days=90))
        return Response(DueReviewSerializer(items, many=True).data)
