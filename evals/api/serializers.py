"""Shapes of ``/api/v1/eval-runs/``: what CI posts, and how a run reads back."""

from __future__ import annotations

import json
from decimal import Decimal

from django.core.validators import RegexValidator
from rest_framework import serializers

from evals import services
from evals.choices import RunSource
from evals.models import CaseResult, EvalRun

MAX_RESULTS = services.MAX_CASES_PER_VERSION
IDEMPOTENCY_KEY = RegexValidator(r"^[\x21-\x7e]+$", "Printable ASCII without spaces only.")
COMMIT_SHA = RegexValidator(r"^[0-9a-fA-F]{7,64}$", "A git commit hash: 7 to 64 hexadecimal characters.")


class StrictBooleanField(serializers.BooleanField):
    """Only JSON ``true`` / ``false``: a CI script sending ``"no"`` or ``0`` by mistake must not
    be read as a verdict."""

    default_error_messages = {"invalid": "Must be true or false (a JSON boolean)."}

    def to_internal_value(self, data):
        if isinstance(data, bool):
            return data
        self.fail("invalid")


class CaseResultInSerializer(serializers.Serializer):
    case = serializers.CharField(max_length=100, help_text="The case key in the golden-set version.")
    passed = StrictBooleanField(help_text="The verdict of your scorer.")
    score = serializers.DecimalField(
        max_digits=None,
        decimal_places=None,
        min_value=Decimal("0"),
        max_value=Decimal("1"),
        required=False,
        allow_null=True,
        help_text="0 to 1 (rounded to 4 places). Default: 1 if passed, else 0.",
    )
    output = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text=f"What the agent produced (any JSON, at most {services.MAX_CI_OUTPUT_CHARS} characters).",
    )
    latency_ms = serializers.IntegerField(min_value=0, max_value=86_400_000, required=False, allow_null=True)
    cost_usd = serializers.DecimalField(
        max_digits=12, decimal_places=6, min_value=Decimal("0"), required=False, allow_null=True
    )
    error = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")

    def validate_output(self, value):
        if len(json.dumps(value, ensure_ascii=False, default=str)) > services.MAX_CI_OUTPUT_CHARS:
            raise serializers.ValidationError(
                f"The output is limited to {services.MAX_CI_OUTPUT_CHARS} characters of JSON."
            )
        return value


class EvalRunInSerializer(serializers.Serializer):
    agent = serializers.SlugField(max_length=64, help_text="The agent's slug.")
    version = serializers.CharField(max_length=40, help_text="The agent version's label, e.g. 2.0.")
    golden_set = serializers.CharField(max_length=120, help_text="The golden set's name (unique per agent).")
    golden_set_version = serializers.IntegerField(min_value=1, help_text="The golden-set version number scored.")
    idempotency_key = serializers.CharField(
        max_length=services.MAX_CI_KEY_CHARS,
        validators=[IDEMPOTENCY_KEY],
        help_text="Unique per agent; a retry with the same key and results returns the first run.",
    )
    commit_sha = serializers.CharField(
        max_length=64, required=False, allow_blank=True, default="", validators=[COMMIT_SHA]
    )
    results = CaseResultInSerializer(
        many=True,
        min_length=1,
        max_length=MAX_RESULTS,
        help_text=f"One result per case of the golden-set version (at most {MAX_RESULTS}).",
    )


class CaseResultSerializer(serializers.ModelSerializer):
    case = serializers.CharField(source="case_key")
    judge = serializers.StringRelatedField(allow_null=True)

    class Meta:
        model = CaseResult
        fields = ["case", "scorer", "passed", "score", "output", "latency_ms", "cost_usd", "attempts", "error", "judge"]


class GoldenSetRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="set_version.golden_set_id")
    name = serializers.CharField(source="set_version.golden_set.name")
    version = serializers.IntegerField(source="set_version.number")


class EvalRunSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    agent = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    version = serializers.SlugRelatedField(slug_field="label", read_only=True)
    golden_set = GoldenSetRefSerializer(source="*", read_only=True)
    idempotency_key = serializers.SerializerMethodField(help_text="The key CI sent (null for console runs).")
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    progress_pct = serializers.IntegerField(read_only=True)
    passed = serializers.BooleanField(
        allow_null=True, read_only=True, help_text="Pass rate at or above the threshold; null until completed."
    )

    class Meta:
        model = EvalRun
        fields = [
            "id",
            "url",
            "agent",
            "version",
            "golden_set",
            "source",
            "status",
            "idempotency_key",
            "commit_sha",
            "total_cases",
            "done_cases",
            "passed_cases",
            "progress_pct",
            "pass_rate_pct",
            "threshold_pct",
            "passed",
            "total_cost_usd",
            "error",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_url(self, obj) -> str:
        request = self.context.get("request")
        path = obj.get_absolute_url()
        return request.build_absolute_uri(path) if request else path

    def get_idempotency_key(self, obj) -> str | None:
        return services.ci_key_public(obj) if obj.source == RunSource.CI else None


class EvalRunGateSerializer(EvalRunSerializer):
    """A run with its gate verdict (what a create answers: the results are not echoed back)."""

    counts_for_gate = serializers.SerializerMethodField(
        help_text="Whether this run vouches for its version at go-live (untrusted judges' scores excluded)."
    )
    gate_pass_rate_pct = serializers.SerializerMethodField(
        help_text="The pass rate that counts for gates: cases scored by an untrusted judge left out."
    )

    class Meta(EvalRunSerializer.Meta):
        fields = [*EvalRunSerializer.Meta.fields, "gate_pass_rate_pct", "counts_for_gate"]

    def _gate(self, obj):
        if not hasattr(obj, "_gate_cache"):
            obj._gate_cache = services.evalrun_gate_pass_rate(obj)
        return obj._gate_cache

    def get_gate_pass_rate_pct(self, obj) -> str | None:
        rate, _ = self._gate(obj)
        return str(rate) if rate is not None else None

    def get_counts_for_gate(self, obj) -> bool:
        rate, _ = self._gate(obj)
        return rate is not None and rate >= obj.threshold_pct


class EvalRunDetailSerializer(EvalRunGateSerializer):
    """A run with every per-case result (at most one per case of its golden-set version)."""

    results = CaseResultSerializer(many=True, read_only=True)

    class Meta(EvalRunGateSerializer.Meta):
        fields = [*EvalRunGateSerializer.Meta.fields, "results"]
