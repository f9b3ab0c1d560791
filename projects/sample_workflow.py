"""The code new projects start from, and the seeded sample project with its tests."""

STARTER_CODE = (
    '"""A one-agent workflow to start from."""\n'
    + """
import asyncio

from agents import Agent, Runner

assistant = Agent(
    name="Assistant",
    instructions="You are a helpful assistant. Answer briefly.",
)


async def main() -> None:
    result = await Runner.run(assistant, "Say hello.")
    print(result.final_output)


if __name__ == "__main__":
    asyncio.run(main())
"""
)

SAMPLE_PROJECT_NAME = "Agent Triage System"

SAMPLE_CODE = (
    '"""Customer support triage: one agent routes each question to a specialist."""\n'
    + '''
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
'''
)

# The project's file is workflow.py, a name the SDK's `agents` package does not use: the
# tests, run next to it, import it as `workflow`.
_LOAD_WORKFLOW = """\
import agents
import workflow
"""

# What the sample must keep, not all it may become: more specialists, tools or
# handoffs pass (a person's first request is often "add a shipping agent").
STRUCTURE_TEST = (
    _LOAD_WORKFLOW
    + """
triage = workflow.triage_agent
assert isinstance(triage, agents.Agent), "triage_agent is not an Agent"
names = {getattr(h, "name", None) or getattr(h, "agent_name", "") for h in triage.handoffs}
missing = {"Billing Agent", "Technical Support Agent"} - names
assert not missing, f"triage no longer hands off to {sorted(missing)}; handoffs: {sorted(names)}"
tools = {t.name for t in workflow.billing_agent.tools}
assert "lookup_invoice" in tools, f"billing tools: {tools}"
tools = {t.name for t in workflow.technical_agent.tools}
assert "check_service_status" in tools, f"technical tools: {tools}"
print(f"ok: triage hands off to {sorted(names)}; specialists have their tools")
"""
)

OFFLINE_RUN_TEST = (
    _LOAD_WORKFLOW
    + """
import asyncio

from agents import RunConfig, Runner
from agents.testing import ScriptedModel, assistant_message, function_call

# The SDK's offline model: the triage agent hands off to billing, billing answers.
model = ScriptedModel(
    [
        [function_call("transfer_to_billing_agent", {}, call_id="call-1")],
        [assistant_message("Your invoice INV-42 is paid.")],
    ]
)
result = asyncio.run(
    Runner.run(
        workflow.triage_agent,
        "My invoice INV-42 looks wrong.",
        run_config=RunConfig(model=model, tracing_disabled=True),
    )
)
assert result.last_agent.name == "Billing Agent", result.last_agent.name
assert "INV-42" in result.final_output, result.final_output
print(f"ok: triage handed off to {result.last_agent.name}: {result.final_output}")
"""
)

# The structure test as seeded before it let the workflow grow: `seed` replaces it
# where a project still has it unedited.
OLD_STRUCTURE_TEST = (
    _LOAD_WORKFLOW
    + """
triage = workflow.triage_agent
assert isinstance(triage, agents.Agent), "triage_agent is not an Agent"
names = {h.name for h in triage.handoffs}
assert names == {"Billing Agent", "Technical Support Agent"}, f"handoffs: {names}"
tools = {t.name for t in workflow.billing_agent.tools}
assert "lookup_invoice" in tools, f"billing tools: {tools}"
tools = {t.name for t in workflow.technical_agent.tools}
assert "check_service_status" in tools, f"technical tools: {tools}"
print(f"ok: triage hands off to {sorted(names)}; specialists have their tools")
"""
)

SAMPLE_TESTS = [
    ("Workflow structure", STRUCTURE_TEST, True),
    ("Triage hands billing questions to billing (offline model)", OFFLINE_RUN_TEST, False),
]
