"""Customer support triage: one agent routes each question to a specialist."""

import os
import sys

# This file is named agents.py, like the SDK's package: keep its folder off the
# import path so `from agents import ...` finds the SDK.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]

import asyncio

from agents import Agent, Runner, function_tool


@function_tool
def lookup_invoice(invoice_id: str) -> str:
    """Look up an invoice's amount and status."""
    return f"Invoice {invoice_id}: 49.00 USD, paid"


@function_tool
def check_service_status(service: str) -> str:
    """Report whether one of our services is up."""
    return f"{service} is operational"


billing_agent = Agent(
    name="Billing Agent",
    instructions="You answer questions about invoices, payments and refunds. "
    "Use lookup_invoice when the customer names an invoice.",
    tools=[lookup_invoice],
)

technical_agent = Agent(
    name="Technical Support Agent",
    instructions="You solve technical problems step by step. "
    "Use check_service_status before blaming the customer's setup.",
    tools=[check_service_status],
)

triage_agent = Agent(
    name="Triage Agent",
    instructions="Decide whether the customer needs billing or technical help, "
    "and hand off to that specialist. Do not answer yourself.",
    handoffs=[billing_agent, technical_agent],
)


async def main() -> None:
    result = await Runner.run(triage_agent, "My invoice INV-42 looks wrong.")
    print(f"{result.last_agent.name}: {result.final_output}")


if __name__ == "__main__":
    asyncio.run(main())
