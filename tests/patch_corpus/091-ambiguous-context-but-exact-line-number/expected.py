from agents import Agent

first = Agent(
    name="First",
    instructions="Help.",
)

second = Agent(
    name="Second",
    instructions="Help more.",
)
