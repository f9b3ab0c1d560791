"""Online shop assistant: order questions and returns share one order lookup tool."""

import asyncio

from pydantic import BaseModel

from agents import Agent, ModelSettings, Runner, function_tool


class OrderSummary(BaseModel):
    order_id: str
    status: str
    total: float


@function_tool
def lookup_order(order_id: str) -> OrderSummary:
    """Find an order by its id."""
    return OrderSummary(order_id=order_id, status="shipped", total=42.0)


@function_tool
def start_return(order_id: str, reason: str) -> str:
    """Open a return for an order that was delivered."""
    return f"Return opened for {order_id}: {reason}"


order_agent = Agent(
    name="Order questions",
    instructions="Answer questions about an order. Always look the order up first.",
    tools=[lookup_order],
    model="gpt-4o-mini",
)

returns_agent = Agent(
    name="Returns",
    instructions="Help the customer return an order. Check it was delivered first.",
    tools=[lookup_order],
    model="gpt-4o-mini",
)

router = Agent(
    name="Router",
    instructions="Send order questions to Order questions and returns to Returns.",
    handoffs=[order_agent, returns_agent],
    model="gpt-4o-mini",
    model_settings=ModelSettings(temperature=0.0, parallel_tool_calls=False),
)


async def main() -> None:
    for question in ["Where is order A-17?", "I want to return order A-17."]:
        result = await Runner.run(router, question)
        print(f"{result.last_agent.name}: {result.final_output}")


if __name__ == "__main__":
    asyncio.run(main())
