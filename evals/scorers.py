"""Scorers: how an agent's output is compared with a case's expectation.

``case_definition_errors`` validates a case before it is stored (forms, JSONL import,
API share it), so scoring never meets a case it cannot score."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import jsonschema
from django.conf import settings

from .choices import Scorer

MAX_PATTERN_LENGTH = 1000
MAX_RUBRIC_LENGTH = 4000


@dataclass(frozen=True)
class Score:
    passed: bool
    score: Decimal
    reason: str = ""
    judge_name: str = ""
    judge_model: str = ""
    judge_prompt_version: str = ""


class JudgeUnavailable(Exception):
    """The judge endpoint could not give a verdict (network, HTTP status, unparseable answer)."""


def _contains_errors(expected: Any, options: dict) -> list[str]:
    needles = expected if isinstance(expected, list) else [expected]
    if not needles or not all(isinstance(n, str) and n for n in needles):
        return ["contains: expected must be a non-empty string or a list of non-empty strings."]
    return []


def _regex_errors(expected: Any, options: dict) -> list[str]:
    if not isinstance(expected, str) or not expected:
        return ["regex: expected must be a pattern string."]
    if len(expected) > MAX_PATTERN_LENGTH:
        return [f"regex: the pattern is longer than {MAX_PATTERN_LENGTH} characters."]
    try:
        re.compile(expected)
    except re.error as exc:
        return [f"regex: invalid pattern ({exc})."]
    return []


def _json_schema_errors(expected: Any, options: dict) -> list[str]:
    if not isinstance(expected, dict):
        return ["json_schema: expected must be a JSON Schema object."]
    try:
        jsonschema.validators.validator_for(expected).check_schema(expected)
    except jsonschema.SchemaError as exc:
        return [f"json_schema: invalid schema ({exc.message})."]
    return []


def _numeric_errors(expected: Any, options: dict) -> list[str]:
    errors = [] if _as_decimal(expected) is not None else ["numeric: expected must be a number."]
    for name in ("tolerance", "relative_tolerance"):
        if name in options and (_as_decimal(options[name]) is None or _as_decimal(options[name]) < 0):
            errors.append(f"numeric: options.{name} must be a non-negative number.")
    return errors


def _llm_judge_errors(expected: Any, options: dict) -> list[str]:
    if not isinstance(expected, str) or not expected.strip():
        return ["llm_judge: expected must be the rubric text."]
    if len(expected) > MAX_RUBRIC_LENGTH:
        return [f"llm_judge: the rubric is longer than {MAX_RUBRIC_LENGTH} characters."]
    return []


# What each scorer requires of a case's expectation and options (exact takes anything).
DEFINITION_CHECKS = {
    Scorer.CONTAINS: _contains_errors,
    Scorer.REGEX: _regex_errors,
    Scorer.JSON_SCHEMA: _json_schema_errors,
    Scorer.NUMERIC: _numeric_errors,
    Scorer.LLM_JUDGE: _llm_judge_errors,
}


def case_definition_errors(scorer: str, expected: Any, options: Any) -> list[str]:
    """Why this scorer cannot score this expectation (empty when it can)."""
    if scorer not in Scorer.values:
        return [f"Unknown scorer {scorer!r}; use one of {', '.join(Scorer.values)}."]
    if not isinstance(options, dict):
        return ["options must be a JSON object."]
    check = DEFINITION_CHECKS.get(scorer)
    errors = check(expected, options) if check else []
    if "case_sensitive" in options and not isinstance(options["case_sensitive"], bool):
        errors.append("options.case_sensitive must be true or false.")
    return errors


def _as_decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _text(output: Any) -> str:
    return output if isinstance(output, str) else json.dumps(output, sort_keys=True, ensure_ascii=False)


def _binary(ok: bool, reason: str = "") -> Score:
    return Score(passed=ok, score=Decimal("1") if ok else Decimal("0"), reason=reason)


def _score_exact(expected: Any, output: Any, options: dict) -> Score:
    if isinstance(expected, str) and isinstance(output, str):
        a, b = expected.strip(), output.strip()
        if options.get("case_sensitive") is False:
            a, b = a.casefold(), b.casefold()
        return _binary(a == b, "" if a == b else "output differs from the expected value")
    return _binary(output == expected, "" if output == expected else "output differs from the expected value")


def _score_contains(expected: Any, output: Any, options: dict) -> Score:
    haystack = _text(output)
    needles = expected if isinstance(expected, list) else [expected]
    if not options.get("case_sensitive"):
        haystack = haystack.casefold()
        needles = [n.casefold() for n in needles]
    missing = [n for n in needles if n not in haystack]
    return _binary(not missing, f"missing: {', '.join(missing)}" if missing else "")


def _score_regex(expected: Any, output: Any, options: dict) -> Score:
    flags = 0 if options.get("case_sensitive") is not False else re.IGNORECASE
    found = re.search(expected, _text(output), flags) is not None
    return _binary(found, "" if found else "pattern not found")


def _score_json_schema(expected: Any, output: Any, options: dict) -> Score:
    document = output
    if isinstance(output, str):
        try:
            document = json.loads(output)
        except ValueError:
            return _binary(False, "output is not JSON")
    validator = jsonschema.validators.validator_for(expected)(expected)
    problems = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    return _binary(not problems, problems[0].message[:300] if problems else "")


def _score_numeric(expected: Any, output: Any, options: dict) -> Score:
    got, want = _as_decimal(output), _as_decimal(expected)
    if got is None:
        return _binary(False, "output is not a number")
    allowed = max(
        _as_decimal(options.get("tolerance", 0)) or Decimal("0"),
        (_as_decimal(options.get("relative_tolerance", 0)) or Decimal("0")) * abs(want),
    )
    ok = abs(got - want) <= allowed
    return _binary(ok, "" if ok else f"{got} is {abs(got - want)} away from {want} (allowed {allowed})")


# The scorers that need nothing but the expectation, the output and the options.
SCORERS = {
    Scorer.EXACT: _score_exact,
    Scorer.CONTAINS: _score_contains,
    Scorer.REGEX: _score_regex,
    Scorer.JSON_SCHEMA: _score_json_schema,
    Scorer.NUMERIC: _score_numeric,
}


def score_output(*, scorer: str, expected: Any, options: dict, case_input: Any, output: Any, judge=None) -> Score:
    """Score one output. ``judge`` is a callable (input, output, rubric) -> Score for llm_judge."""
    if scorer == Scorer.LLM_JUDGE:
        if judge is None:
            raise JudgeUnavailable("No judge is configured (settings.QUORUM_EVAL_JUDGE).")
        return judge(case_input, output, expected)
    if scorer not in SCORERS:
        raise ValueError(f"Unknown scorer {scorer!r}")
    return SCORERS[scorer](expected, output, options)


JUDGE_SYSTEM_PROMPT = (
    "You grade an AI agent's answer against a rubric. Reply with a JSON object only: "
    '{"pass": true|false, "score": <number 0..1>, "reason": "<one sentence>"}.'
)


def judge_config() -> dict:
    return dict(getattr(settings, "QUORUM_EVAL_JUDGE", {}) or {})


def judge_identity() -> tuple[str, str, str] | None:
    """(name, model, prompt version) of the configured judge, or None when none is set."""
    config = judge_config()
    if not config.get("url") or not config.get("model"):
        return None
    prompt_version = str(config.get("prompt_version", "1"))
    return f"{config['model']} · prompt v{prompt_version}", config["model"], prompt_version


def make_http_judge(client):
    """A judge calling an OpenAI-compatible ``/chat/completions`` endpoint with ``client`` (httpx)."""
    config = judge_config()
    identity = judge_identity()
    if identity is None:
        return None
    name, model, prompt_version = identity
    url = config["url"].rstrip("/") + "/chat/completions"
    headers = {"Authorization": f"Bearer {config['api_key']}"} if config.get("api_key") else {}
    timeout = float(config.get("timeout_seconds", 60))

    def judge(case_input, output, rubric) -> Score:
        body = {
            "model": model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": JUDGE_SYSTEM_PROMPT},
                {
                    "role": "user",
                    "content": json.dumps(
                        {"rubric": rubric, "input": case_input, "answer": output}, ensure_ascii=False
                    ),
                },
            ],
        }
        import httpx

        try:
            response = client.post(url, json=body, headers=headers, timeout=timeout)
            response.raise_for_status()
            content = response.json()["choices"][0]["message"]["content"]
            verdict = json.loads(_strip_fences(content))
            passed = verdict["pass"]
            if not isinstance(passed, bool):
                raise TypeError("pass is not a boolean")
            score = _as_decimal(verdict.get("score", 1 if passed else 0))
            if score is None or not (0 <= score <= 1):
                raise ValueError("score outside 0..1")
        except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as exc:
            raise JudgeUnavailable(f"judge gave no usable verdict: {exc}") from exc
        return Score(
            passed=passed,
            score=score.quantize(Decimal("0.0001")),
            reason=str(verdict.get("reason", ""))[:2000],
            judge_name=name,
            judge_model=model,
            judge_prompt_version=prompt_version,
        )

    return judge


def _strip_fences(content: str) -> str:
    text = content.strip()
    if text.startswith("```"):
        text = text.strip("`")
        text = text[4:] if text.lower().startswith("json") else text
    return text.strip()
