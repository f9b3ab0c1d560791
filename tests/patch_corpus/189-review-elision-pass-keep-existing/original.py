"""Code review: a reviewer agent with tools, and a summariser handing back."""

import asyncio

from agents import Agent, ModelSettings, Runner, function_tool


@function_tool
def read_file(path: str) -> str:
    """Read a file of the repository under review."""
    with open(path) as handle:
        return handle.read()


@function_tool
def list_changed_files() -> list[str]:
    """The files changed by the pull request."""
    return ["app/models.py", "app/views.py"]


reviewer = Agent(
    name="Reviewer",
    instructions=(
        "Review the changed files. Point out bugs first, then style. "
        "Quote the lines you comment on."
    ),
    tools=[read_file, list_changed_files],
    model_settings=ModelSettings(tool_choice="auto"),
)

summariser = Agent(
    name="Summariser",
    instructions="Summarise the review in five bullet points.",
)

lead = Agent(
    name="Lead",
    instructions="Ask the reviewer for a review, then the summariser for a summary.",
    handoffs=[reviewer, summariser],
)


async def main() -> None:
    result = await Runner.run(lead, "Review pull request 17.")
    print(result.final_output)


if __name__ == "__main__":
    asyncio.run(main())
