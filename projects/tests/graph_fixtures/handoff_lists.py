"""Handoffs and tools collected in variables, dynamic instructions, renamed tools."""

import asyncio

from agents import Agent, FunctionTool, RunContextWrapper, Runner, function_tool, handoff

from plugins import plugin_agents


def shopper_instructions(context: RunContextWrapper[None], agent: Agent[None]) -> str:
    return "You help shoppers. Today's offers change daily."


@function_tool(name_override="find_product")
def search_catalog(query: str) -> str:
    """Search the product catalog."""
    return f"3 products match {query}"


async def _on_invoke(context: object, arguments: str) -> str:
    return "stocked"


stock_tool = FunctionTool(
    name="check_stock",
    description="Whether an item is in stock.",
    params_json_schema={"type": "object", "properties": {}},
    on_invoke_tool=_on_invoke,
)

orders_agent = Agent(name="Orders", instructions="You track orders.", tools=[stock_tool])
returns_agent = Agent(name="Returns", instructions="You handle returns.")
shopper = Agent(
    name="Shopper",
    instructions=shopper_instructions,
    model="gpt-4.1",
    tools=[search_catalog, stock_tool],
)

specialists = [orders_agent, returns_agent]
after_sales = specialists + [handoff(shopper, tool_name_override="back_to_shopping")]

concierge = Agent(
    name="Concierge",
    instructions="Greet the customer and send them to the right desk.",
    handoffs=[*after_sales, *plugin_agents],
)
shopper.handoffs = [concierge]
returns_agent.handoffs.extend([agent for agent in specialists if agent is not returns_agent])

if __name__ == "__main__":
    print(asyncio.run(Runner.run(concierge, "Where is my order?")).final_output)
