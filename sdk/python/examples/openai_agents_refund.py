"""An OpenAI Agents SDK agent whose refund tool is guarded by Quorum's action gate (issue 17).

It runs without a model key: ``ScriptedModel`` stands in for the LLM and asks for two refunds,
40 USD (the demo policy allows it) and 0 USD (the policy denies it: "A refund amount must be
positive."), then reports what the tools answered. Swap in a real model and nothing else changes.

    QUORUM_URL=http://127.0.0.1:8000 QUORUM_AGENT_KEY=<the agent's key> \\
        python sdk/python/examples/openai_agents_refund.py
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from typing import Any

from agents import Agent, ModelResponse, Runner, Usage, function_tool
from agents.models.interface import Model
from openai.types.responses import ResponseFunctionToolCall, ResponseOutputMessage, ResponseOutputText
from quorum_sdk import QuorumClient
from quorum_sdk.openai_agents import quorum_gate_guardrail

REFUNDS = [
    {"amount_usd": 40, "customer_tier": "pro", "order_id": "A-1001"},
    {"amount_usd": 0, "customer_tier": "pro", "order_id": "A-1002"},
]


class ScriptedModel(Model):
    """A stand-in for the LLM: one ``refund`` call per planned refund, then a final message that
    lists the tool outputs it was given back."""

    def __init__(self, calls: list[dict[str, Any]]) -> None:
        self.calls = list(calls)

    async def get_response(self, system_instructions, input, model_settings, tools, output_schema, handoffs,
                           tracing, **kwargs) -> ModelResponse:  # fmt: skip
        if self.calls:
            n = len(REFUNDS) - len(self.calls)
            call = ResponseFunctionToolCall(
                type="function_call", call_id=f"call-{n}", name="refund", arguments=json.dumps(self.calls.pop(0))
            )
            return ModelResponse(output=[call], usage=Usage(), response_id=None)
        returned = [item for item in input if isinstance(item, dict) and item.get("type") == "function_call_output"]
        outputs = [str(item["output"]) for item in returned]
        text = ResponseOutputText(type="output_text", text=" | ".join(outputs), annotations=[])
        message = ResponseOutputMessage(
            type="message", id="msg-1", role="assistant", status="completed", content=[text]
        )
        return ModelResponse(output=[message], usage=Usage(), response_id=None)

    def stream_response(self, *args, **kwargs) -> AsyncIterator[Any]:
        raise NotImplementedError("The scripted model does not stream.")


def build_agent(quorum: QuorumClient) -> Agent:
    @function_tool(tool_input_guardrails=[quorum_gate_guardrail(quorum, "payments.refund", poll_initial=0.2)])
    def refund(amount_usd: float, customer_tier: str, order_id: str) -> str:
        """Refund an order to the customer's original payment method."""
        return f"refunded {amount_usd:g} USD on order {order_id}"

    return Agent(name="refund-assistant", instructions="Refund when asked.", tools=[refund],
                 model=ScriptedModel(REFUNDS))  # fmt: skip


def main() -> str:
    with QuorumClient(os.environ["QUORUM_URL"], os.environ["QUORUM_AGENT_KEY"]) as quorum:
        result = Runner.run_sync(build_agent(quorum), "Refund orders A-1001 and A-1002.")
    print(result.final_output)
    return str(result.final_output)


if __name__ == "__main__":
    main()
