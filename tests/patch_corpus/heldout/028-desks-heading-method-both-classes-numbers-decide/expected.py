"""Two desks as classes: each runs its own agent the same way."""

import asyncio

from agents import Agent, Runner

orders = Agent(name="Orders", instructions="Answer order questions.")
refunds = Agent(name="Refunds", instructions="Handle refunds.")


class OrdersDesk:
    agent = orders

    async def run(self, message: str) -> str:
        result = await Runner.run(self.agent, message)
        print(result.final_output)
        return result.final_output


class RefundsDesk:
    agent = refunds

    async def run(self, message: str) -> str:
        result = await Runner.run(self.agent, message, max_turns=3)
        print(result.final_output)
        return result.final_output


async def main() -> None:
    print(await OrdersDesk().run("Where is order 7?"))
    print(await RefundsDesk().run("Refund order 7."))


if __name__ == "__main__":
    asyncio.run(main())
