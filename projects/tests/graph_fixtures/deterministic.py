"""Three agents in a fixed order; a checker's structured output gates the last step."""

import asyncio

from pydantic import BaseModel

from agents import Agent, Runner, trace

story_outline_agent = Agent(
    name="story_outline_agent",
    instructions="Generate a very short story outline based on the user's input.",
)


class OutlineCheckerOutput(BaseModel):
    good_quality: bool
    is_scifi: bool


outline_checker_agent = Agent(
    name="outline_checker_agent",
    instructions="Read the given story outline, and judge the quality. Also, determine if it is a scifi story.",
    output_type=OutlineCheckerOutput,
)

story_agent = Agent(
    name="story_agent",
    instructions="Write a short story based on the given outline.",
    output_type=str,
)


async def main() -> None:
    input_prompt = input("What kind of story do you want? ")
    with trace("Deterministic story flow"):
        outline_result = await Runner.run(story_outline_agent, input_prompt)
        outline_checker_result = await Runner.run(outline_checker_agent, outline_result.final_output)
        assert isinstance(outline_checker_result.final_output, OutlineCheckerOutput)
        if not outline_checker_result.final_output.good_quality:
            print("Outline is not good quality, so we stop here.")
            return
        story_result = await Runner.run(story_agent, outline_result.final_output)
        print(f"Story: {story_result.final_output}")


if __name__ == "__main__":
    asyncio.run(main())
