"""Shapes of ``/api/v1/action-requests/`` for the OpenAPI schema. The body is parsed and
checked by ``actions.services.action_request_submit`` (one place for the rules)."""

from rest_framework import serializers

from actions.choices import ActionStatus, DecisionSource


class ActionRequestInputSerializer(serializers.Serializer):
    tool = serializers.CharField(max_length=120, help_text="A catalog tool name, e.g. payments.refund.")
    parameters = serializers.DictField(
        help_text="The action's fields, as the tool's policy declares them (at most 8,000 characters of JSON). "
        "Fields the policy names for redaction are replaced before storage."
    )
    idempotency_key = serializers.CharField(
        max_length=100,
        required=False,
        help_text="Unique per action and agent (letters, digits, . _ : -). The same key answers the same "
        "request again; reusing it for another action is a 409. Required unless dry_run.",
    )
    dry_run = serializers.BooleanField(
        required=False, default=False, help_text="Answer what would happen; nothing is stored or queued."
    )
    change_request_id = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="Tier-4 tools: the pending, approved or applied change request this action belongs to.",
    )
    agent = serializers.CharField(
        required=False, help_text="Optional: your own slug; another agent's is refused (403)."
    )
    session_id = serializers.CharField(
        required=False,
        max_length=100,
        help_text="Optional: the agent's session; rules read context.session_step and context.session_cost_usd, "
        "and the session's step and cost ceilings apply.",
    )
    on_behalf_of = serializers.CharField(
        required=False,
        max_length=150,
        help_text="Optional: the user (username or e-mail) the agent acts for; rules read context.on_behalf_of "
        "and context.on_behalf_of_is_approver.",
    )
    cost_usd = serializers.DecimalField(
        required=False,
        max_digits=12,
        decimal_places=6,
        min_value=0,
        help_text="Optional: what the action costs (USD), charged to the agent's budget when it goes ahead.",
    )
    version = serializers.CharField(
        required=False,
        help_text="The version label this request runs under: leave it out for the deployed version; canary "
        "traffic names the canary version. The tool must be granted to that version, within its constraints.",
    )


class ActionRuleSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    text = serializers.CharField()


class ActionDecisionSerializer(serializers.Serializer):
    source = serializers.ChoiceField(choices=DecisionSource.choices)
    policy_version = serializers.IntegerField(allow_null=True)
    rule = ActionRuleSerializer(allow_null=True)
    reason = serializers.CharField(help_text='Shown to the agent; "side effects disabled" for the kill switch.')


class ActionApprovalStateSerializer(serializers.Serializer):
    request_id = serializers.IntegerField(required=False, help_text="The approvals-queue request.")
    required_approvals = serializers.IntegerField()
    roles = serializers.ListField(child=serializers.CharField())
    approvals = serializers.IntegerField()
    blocked_reason = serializers.CharField()


class ActionRequestSerializer(serializers.Serializer):
    id = serializers.UUIDField(allow_null=True, help_text="Null for a dry run.")
    status = serializers.ChoiceField(choices=ActionStatus.choices)
    dry_run = serializers.BooleanField()
    tool = serializers.CharField()
    idempotency_key = serializers.CharField(required=False)
    parameters = serializers.DictField(help_text="As stored: redacted.")
    decision = ActionDecisionSerializer()
    approval = ActionApprovalStateSerializer(allow_null=True)
    change_request_id = serializers.IntegerField(allow_null=True, required=False)
    created_at = serializers.DateTimeField(allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)


class ActionRequestListSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    results = ActionRequestSerializer(many=True)


# --- /api/v1/agent/tool-pins/: the MCP gateway's pins (issue 17) ---------------------------------


class ToolPinSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The upstream MCP tool's name.")
    description = serializers.CharField(allow_blank=True)
    input_schema = serializers.DictField(help_text="The tool's JSON Schema for its arguments.")
    definition_hash = serializers.CharField(
        help_text="SHA-256 of the canonical JSON of {name, description, input_schema} (keys sorted, no spaces)."
    )


class ToolPinsSerializer(serializers.Serializer):
    version = serializers.CharField(allow_null=True, help_text="The deployed version's label; null: none deployed.")
    bundle_digest = serializers.CharField(allow_null=True)
    pins = ToolPinSerializer(many=True)


class ToolDefinitionInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=8000, required=False, allow_blank=True)
    input_schema = serializers.DictField(required=False, help_text="At most 32,000 characters of JSON.")


class ToolDefinitionReportSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["pinned", "tool_unpinned", "tool_changed"])
    definition_hash = serializers.CharField()
    violation_id = serializers.IntegerField(allow_null=True)
    change_request_id = serializers.IntegerField(allow_null=True)
    new = serializers.BooleanField(help_text="False when this definition was reported before (nothing new opened).")


class BacktestInputSerializer(serializers.Serializer):
    """A draft policy and the days of recorded requests to replay it on (checked further by
    ``actions.forms.BacktestForm``, the console page's own checks)."""

    start = serializers.DateField(help_text="First day of the period (UTC), e.g. 2026-05-01.")
    end = serializers.DateField(help_text="Last day of the period, inclusive; at most 31 days after start.")
    fields_source = serializers.CharField(
        max_length=10_000,
        required=False,
        allow_blank=True,
        help_text="The draft's field declarations; omitted or blank: the fields of the version in force.",
    )
    rules_source = serializers.CharField(
        max_length=60_000, allow_blank=True, help_text="The draft's rules, one per line, first match wins."
    )


class BacktestChangeSerializer(serializers.Serializer):
    before = serializers.CharField(help_text="What the gate decided: allow, deny or N approval(s) from roles.")
    after = serializers.CharField(help_text="What the draft decides.")
    before_rule = serializers.CharField()
    after_rule = serializers.CharField()
    count = serializers.IntegerField()
    examples = serializers.ListField(
        child=serializers.CharField(), help_text="Up to 3 action-request ids, of agents you may see."
    )


class BacktestTransitionSerializer(serializers.Serializer):
    before = serializers.CharField()
    after = serializers.CharField()
    count = serializers.IntegerField()


class BacktestResultSerializer(serializers.Serializer):
    tool = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField(help_text="Exclusive: midnight after the last day.")
    total = serializers.IntegerField(help_text="Requests created in the period.")
    replayed = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    changed = serializers.IntegerField()
    gate_decided = serializers.IntegerField(
        help_text="Decided by the kill switch, grant or budget: no policy moves these."
    )
    purged = serializers.IntegerField(help_text="Parameters dropped by retention: not replayed.")
    refused = serializers.IntegerField(help_text="Parameters the draft's fields refuse.")
    refused_examples = serializers.ListField(child=serializers.CharField())
    changes = BacktestChangeSerializer(many=True, help_text="Most frequent first.")
    transitions = BacktestTransitionSerializer(many=True)
    redacted_fields = serializers.DictField(
        child=serializers.IntegerField(), help_text="Field -> requests it was redacted in (excluded from the replay)."
    )
    redacted_rules = serializers.ListField(
        child=serializers.IntegerField(), help_text="Draft rules reading a redacted field."
    )
    context_lacking = serializers.DictField(
        child=serializers.IntegerField(), help_text="Draft rule number -> requests without the context it reads."
    )
    seconds = serializers.FloatField()
