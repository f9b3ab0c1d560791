"""A research pipeline: plan, search, write."""

import asyncio

from pydantic import BaseModel

from agents import Agent, Runner, WebSearchTool, function_tool


class SearchPlan(BaseModel):
    queries: list[str]
    reason: str


class Report(BaseModel):
    summary: str
    markdown: str


planner = Agent(
    name="Planner",
    instructions="Turn the question into three to five web searches.",
    output_type=SearchPlan,
)

searcher = Agent(
    name="Searcher",
    instructions="Search the web and summarise what you find in two paragraphs.",
    tools=[WebSearchTool()],
)


@function_tool
def word_count(text: str) -> int:
    """Count the words of a draft."""
    return len(text.split())


writer = Agent(
    name="Writer",
    instructions="Write a report from the summaries. Keep it under 800 words.",
    tools=[word_count],
    output_type=Report,
)


async def research(question: str) -> Report:
    plan = await Runner.run(planner, question)
    summaries = []
    for query in plan.final_output.queries:
        result = await Runner.run(searcher, query)
        summaries.append(result.final_output)
    report = await Runner.run(writer, "\n\n".join(summaries))
    return report.final_output


async def main() -> None:
    report = await research("How do heat pumps work in cold climates?")
    print(report.summary)


if __name__ == "__main__":
    asyncio.run(main())
