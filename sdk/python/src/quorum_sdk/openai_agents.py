"""The OpenAI Agents SDK integration (issue 17): a tool input guardrail that asks Quorum's action
gate before a function tool runs.

::

    from agents import function_tool
    from quorum_sdk.openai_agents import quorum_gate_guardrail

    @function_tool(tool_input_guardrails=[quorum_gate_guardrail(quorum, "payments.refund")])
    def refund(amount_usd: float, customer_tier: str, order_id: str) -> str: ...

The tool's arguments are the action's parameters. Allowed (or approved by people, waited for
up to ``wait_timeout``): the tool runs. Denied, expired, or Quorum unreachable (fail closed):
the tool does not run and the model reads ``Denied by Quorum: <reason>`` as the tool's output.
Needs the ``openai-agents`` package (not a dependency of quorum-sdk)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from agents import ToolGuardrailFunctionOutput, ToolInputGuardrail, ToolInputGuardrailData

from .client import QuorumClient
from .errors import ActionDenied, ActionExpired, QuorumError

__all__ = ["quorum_gate_guardrail"]


def quorum_gate_guardrail(
    quorum: QuorumClient,
    tool: str,
    *,
    wait_timeout: float = 900.0,
    poll_initial: float = 0.5,
    poll_max: float = 10.0,
) -> ToolInputGuardrail[Any]:
    """A guardrail routing each call of the function tool it guards through ``quorum.gate(tool)``
    (``tool``: the Quorum catalog name, e.g. ``payments.refund``; function tool names cannot hold
    dots). The gate's wait runs in a thread so the agent's event loop keeps going."""

    async def check(data: ToolInputGuardrailData) -> ToolGuardrailFunctionOutput:
        try:
            arguments = json.loads(data.context.tool_arguments or "{}")
        except ValueError:
            return ToolGuardrailFunctionOutput.reject_content("Denied by Quorum: the arguments are not JSON.")
        if not isinstance(arguments, dict):
            return ToolGuardrailFunctionOutput.reject_content("Denied by Quorum: the arguments must be an object.")
        gate = quorum.gate(
            tool, parameters=arguments, wait_timeout=wait_timeout, poll_initial=poll_initial, poll_max=poll_max
        )
        try:
            action = await asyncio.to_thread(gate.check)
        except ActionDenied as exc:
            return ToolGuardrailFunctionOutput.reject_content(f"Denied by Quorum: {exc.reason}", output_info=exc.action)
        except ActionExpired as exc:
            return ToolGuardrailFunctionOutput.reject_content(
                f"Not approved in time by Quorum: {exc.reason}", output_info=exc.action
            )
        except QuorumError as exc:
            return ToolGuardrailFunctionOutput.reject_content(
                f"Quorum could not be asked, so {tool} did not run: {exc}"
            )
        return ToolGuardrailFunctionOutput.allow(output_info=action)

    return ToolInputGuardrail(guardrail_function=check, name=f"quorum_gate:{tool}")
