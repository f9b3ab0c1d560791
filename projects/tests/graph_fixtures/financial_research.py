"""Financial research: specialists exposed as tools to a writer, then a verifier."""

import asyncio

from pydantic import BaseModel

from agents import Agent, RunResult, Runner, WebSearchTool

MODEL = "gpt-4.1"


class AnalysisSummary(BaseModel):
    summary: str


class FinancialSearchPlan(BaseModel):
    searches: list[str]


class FinancialReportData(BaseModel):
    short_summary: str
    markdown_report: str


class VerificationResult(BaseModel):
    verified: bool
    issues: str


planner_agent = Agent(
    name="FinancialPlannerAgent",
    instructions="You are a financial research planner. Produce 5-15 web searches.",
    model="o3-mini",
    output_type=FinancialSearchPlan,
)

search_agent = Agent(
    name="FinancialSearchAgent",
    instructions="You are a research assistant specializing in financial topics.",
    model=MODEL,
    tools=[WebSearchTool()],
)

financials_agent = Agent(
    name="FundamentalsAnalystAgent",
    instructions="You are a financial analyst focused on company fundamentals.",
    output_type=AnalysisSummary,
)

risk_agent = Agent(
    name="RiskAnalystAgent",
    instructions="You are a risk analyst looking for potential red flags.",
    output_type=AnalysisSummary,
)

writer_agent = Agent(
    name="FinancialWriterAgent",
    instructions="You are a senior financial analyst. Synthesize a long-form markdown report.",
    model="gpt-4.5-preview-2025-02-27",
    output_type=FinancialReportData,
)

verifier_agent = Agent(
    name="VerificationAgent",
    instructions="You are a meticulous auditor. Verify the report is consistent and sourced.",
    model=MODEL,
    output_type=VerificationResult,
)


async def _summary_extractor(run_result: RunResult) -> str:
    return str(run_result.final_output.summary)


class FinancialResearchManager:
    async def run(self, query: str) -> None:
        plan = await Runner.run(planner_agent, f"Query: {query}")
        searches = await asyncio.gather(
            *(Runner.run(search_agent, term) for term in plan.final_output.searches)
        )
        fundamentals_tool = financials_agent.as_tool(
            tool_name="fundamentals_analysis",
            tool_description="Use to get a short write-up of key financial metrics",
            custom_output_extractor=_summary_extractor,
        )
        risk_tool = risk_agent.as_tool(
            tool_name="risk_analysis",
            tool_description="Use to get a short write-up of potential red flags",
            custom_output_extractor=_summary_extractor,
        )
        writer_with_tools = writer_agent.clone(tools=[fundamentals_tool, risk_tool])
        report = await Runner.run(writer_with_tools, f"Query: {query}\nSearches: {searches}")
        verification = await Runner.run(verifier_agent, report.final_output.markdown_report)
        print(verification.final_output)


if __name__ == "__main__":
    asyncio.run(FinancialResearchManager().run(input("Enter a financial research query: ")))
