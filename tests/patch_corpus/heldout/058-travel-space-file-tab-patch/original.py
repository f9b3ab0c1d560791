"""Travel desk: triage between flights and hotels, with a shared lookup tool."""

import asyncio

from agents import Agent, Runner, function_tool


@function_tool
def find_flights(origin: str, destination: str, date: str) -> str:
    """Search flights between two airports on a date."""
    return f"3 flights from {origin} to {destination} on {date}"


@function_tool
def find_hotels(city: str, nights: int) -> str:
    """Search hotels in a city for a number of nights."""
    return f"5 hotels in {city} for {nights} nights"


flights = Agent(
    name="Flights",
    instructions="Book flights. Confirm dates and airports before booking.",
    tools=[find_flights],
)

hotels = Agent(
    name="Hotels",
    instructions="Book hotels. Ask for the number of guests before booking.",
    tools=[find_hotels],
)

desk = Agent(
    name="Travel desk",
    instructions="Route flight questions to Flights and hotel questions to Hotels.",
    handoffs=[flights, hotels],
)


async def main() -> None:
    result = await Runner.run(desk, "I need a hotel in Lisbon for 3 nights.")
    print(result.final_output)


if __name__ == "__main__":
    asyncio.run(main())
