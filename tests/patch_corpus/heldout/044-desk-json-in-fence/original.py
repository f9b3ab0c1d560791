"""Support desk: input guardrail, three specialists with the same settings, triage."""

import asyncio

from pydantic import BaseModel

from agents import (
    Agent,
    GuardrailFunctionOutput,
    ModelSettings,
    RunContextWrapper,
    Runner,
    SQLiteSession,
    TResponseInputItem,
    function_tool,
    input_guardrail,
)


class AbuseCheck(BaseModel):
    is_abusive: bool
    reasoning: str


abuse_checker = Agent(
    name="Abuse checker",
    instructions="Decide whether the message insults or threatens the support staff.",
    output_type=AbuseCheck,
    model_settings=ModelSettings(temperature=0.0),
)


@input_guardrail
async def no_abuse(
    context: RunContextWrapper[None], agent: Agent, message: str | list[TResponseInputItem]
) -> GuardrailFunctionOutput:
    result = await Runner.run(abuse_checker, message, context=context.context)
    return GuardrailFunctionOutput(
        output_info=result.final_output,
        tripwire_triggered=result.final_output.is_abusive,
    )


@function_tool
def order_status(order_id: str) -> str:
    """The shipping status of an order."""
    return f"Order {order_id} left the warehouse yesterday."


@function_tool
def refund(order_id: str, reason: str) -> str:
    """Start a refund for an order."""
    return f"Refund for {order_id} started: {reason}"


orders_agent = Agent(
    name="Orders",
    instructions="Answer questions about orders. Use order_status for any order number.",
    tools=[order_status],
    model_settings=ModelSettings(temperature=0.2),
)

refunds_agent = Agent(
    name="Refunds",
    instructions="Handle refunds. Ask for the reason before calling refund.",
    tools=[refund],
    model_settings=ModelSettings(temperature=0.2),
)

accounts_agent = Agent(
    name="Accounts",
    instructions="Help with logins, passwords and account settings.",
    model_settings=ModelSettings(temperature=0.2),
)

triage_agent = Agent(
    name="Triage",
    instructions=(
        "Work out what the customer needs and hand off to Orders, Refunds or Accounts. "
        "Never answer the question yourself."
    ),
    handoffs=[orders_agent, refunds_agent, accounts_agent],
    input_guardrails=[no_abuse],
)


async def main() -> None:
    session = SQLiteSession("support-desk")
    for message in ["Where is order 1234?", "I want my money back for 1234."]:
        result = await Runner.run(triage_agent, message, session=session)
        print(f"{result.last_agent.name}: {result.final_output}")


if __name__ == "__main__":
    asyncio.run(main())
