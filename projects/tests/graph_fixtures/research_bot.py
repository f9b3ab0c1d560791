"""Plan searches, run them with the hosted web search tool, and write a report."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel

from agents import Agent, ModelSettings, Runner, WebSearchTool, custom_span, gen_trace_id, trace
from agents.model_settings import ModelSettings as _ModelSettings  # noqa: F401

PLANNER_PROMPT = (
    "You are a helpful research assistant. Given a query, come up with a set of web searches "
    "to perform to best answer the query. Output between 5 and 20 terms to query for."
)


class WebSearchItem(BaseModel):
    reason: str
    query: str


class WebSearchPlan(BaseModel):
    searches: list[WebSearchItem]


class ReportData(BaseModel):
    short_summary: str
    markdown_report: str
    follow_up_questions: list[str]


planner_agent = Agent(
    name="PlannerAgent",
    instructions=PLANNER_PROMPT,
    model="gpt-4o",
    output_type=WebSearchPlan,
)

search_agent = Agent(
    name="Search agent",
    instructions=(
        "You are a research assistant. Given a search term, you search the web for that term "
        "and produce a concise summary of the results."
    ),
    tools=[WebSearchTool()],
    model_settings=ModelSettings(tool_choice="required"),
)

writer_agent = Agent(
    name="WriterAgent",
    instructions="You are a senior researcher tasked with writing a cohesive report for a research query.",
    model="o3-mini",
    output_type=ReportData,
)


class ResearchManager:
    async def run(self, query: str) -> None:
        trace_id = gen_trace_id()
        with trace("Research trace", trace_id=trace_id):
            search_plan = await self._plan_searches(query)
            search_results = await self._perform_searches(search_plan)
            report = await self._write_report(query, search_results)
        print(report.markdown_report)

    async def _plan_searches(self, query: str) -> WebSearchPlan:
        result = await Runner.run(planner_agent, f"Query: {query}")
        return result.final_output_as(WebSearchPlan)

    async def _perform_searches(self, search_plan: WebSearchPlan) -> list[str]:
        with custom_span("Search the web"):
            tasks = [asyncio.create_task(self._search(item)) for item in search_plan.searches]
            return [r for r in await asyncio.gather(*tasks) if r is not None]

    async def _search(self, item: WebSearchItem) -> str | None:
        try:
            result = await Runner.run(search_agent, f"Search term: {item.query}\nReason: {item.reason}")
            return str(result.final_output)
        except Exception:
            return None

    async def _write_report(self, query: str, search_results: list[str]) -> ReportData:
        result = Runner.run_streamed(
            writer_agent, f"Original query: {query}\nSummarized search results: {search_results}"
        )
        async for _ in result.stream_events():
            pass
        return result.final_output_as(ReportData)


if __name__ == "__main__":
    asyncio.run(ResearchManager().run(input("What would you like to research? ")))
