"""Eval rules, one module per sub-domain; every public name is re-exported here so callers
write ``from evals import services`` and ``services.evalrun_request(...)``.

* ``golden_sets`` — golden sets, versions and their freezing, cases of an editable version;
* ``jsonl`` — JSONL import (all lines or none) and export of cases;
* ``targets`` — the endpoint an agent is evaluated through;
* ``runs`` — eval runs: queue (idempotent per key), claim, execute, complete;
* ``ci_results`` — results computed in CI, recorded as completed runs;
* ``gates`` — does a version have a passing run; ticking and applying go-live requests;
* ``judges`` — judge calibration against human ratings;
* ``drift`` — drift checks on rollups and what a breach does;
* ``schedules`` — scheduled evals of production agents.
"""

from .ci_results import (
    MAX_CI_KEY_CHARS,
    MAX_CI_OUTPUT_CHARS,
    CiResultsRefused,
    ci_key_public,
    evalrun_record_ci,
    user_may_post_eval_results,
)
from .drift import (
    Breach,
    DriftVerdict,
    drift_check_agent,
    drift_check_fleet,
    drift_evaluate,
    drift_windows,
    driftalert_set_status,
    driftpolicy_for,
    driftpolicy_update,
)
from .gates import (
    CHECKLIST_KEY,
    apply_gate_eval,
    evalrun_after_completion,
    evalrun_counts_for_gate,
    evalrun_gate_pass_rate,
    request_created_eval_hook,
    version_passing_run,
)
from .golden_sets import (
    MAX_CASES_PER_VERSION,
    MAX_INPUT_CHARS,
    case_delete,
    case_save,
    case_validate,
    goldenset_create,
    setversion_create_next,
    setversion_freeze,
)
from .jsonl import (
    MAX_IMPORT_BYTES,
    JsonlImportError,
    LineError,
    cases_export_jsonl,
    cases_import_jsonl,
    cases_parse_jsonl,
)
from .judges import (
    AGREEMENT_BAR_PCT,
    current_judge,
    humanrating_record,
    judge_agreement,
    judge_min_sample,
    judge_recalibrate,
)
from .runs import (
    EvalRunRefused,
    evalrun_execute,
    evalrun_fail,
    evalrun_request,
)
from .schedules import (
    production_agent_ids,
    scheduled_evals_request,
)
from .targets import (
    evaltarget_save,
)

__all__ = [
    "AGREEMENT_BAR_PCT",
    "Breach",
    "CHECKLIST_KEY",
    "CiResultsRefused",
    "DriftVerdict",
    "EvalRunRefused",
    "JsonlImportError",
    "LineError",
    "MAX_CASES_PER_VERSION",
    "MAX_CI_KEY_CHARS",
    "MAX_CI_OUTPUT_CHARS",
    "MAX_IMPORT_BYTES",
    "MAX_INPUT_CHARS",
    "apply_gate_eval",
    "case_delete",
    "case_save",
    "case_validate",
    "cases_export_jsonl",
    "cases_import_jsonl",
    "cases_parse_jsonl",
    "ci_key_public",
    "current_judge",
    "drift_check_agent",
    "drift_check_fleet",
    "drift_evaluate",
    "drift_windows",
    "driftalert_set_status",
    "driftpolicy_for",
    "driftpolicy_update",
    "evalrun_after_completion",
    "evalrun_counts_for_gate",
    "evalrun_execute",
    "evalrun_fail",
    "evalrun_gate_pass_rate",
    "evalrun_record_ci",
    "evalrun_request",
    "evaltarget_save",
    "goldenset_create",
    "humanrating_record",
    "judge_agreement",
    "judge_min_sample",
    "judge_recalibrate",
    "production_agent_ids",
    "request_created_eval_hook",
    "scheduled_evals_request",
    "setversion_create_next",
    "setversion_freeze",
    "user_may_post_eval_results",
    "version_passing_run",
]
