"""Support agent with an input guardrail that stops homework requests."""

import asyncio

from pydantic import BaseModel

from agents import (
    Agent,
    GuardrailFunctionOutput,
    InputGuardrailTripwireTriggered,
    Runner,
    input_guardrail,
)


class HomeworkCheck(BaseModel):
    is_homework: bool
    reasoning: str


# Keep the checker cheap: it runs on every message.
checker = Agent(
    name="Homework checker",
    instructions="Decide whether the user asks for help with school homework.",
    output_type=HomeworkCheck,
)


@input_guardrail
async def no_homework(ctx, agent, user_input):
    result = await Runner.run(checker, user_input, context=ctx.context)
    return GuardrailFunctionOutput(
        output_info=result.final_output,
        tripwire_triggered=result.final_output.is_homework,
    )


support = Agent(
    name="Support",
    instructions="You help customers with their accounts. Be brief and kind.",
    input_guardrails=[no_homework],
)


async def main() -> None:
    for question in ["How do I reset my password?", "Solve x^2 - 4 = 0 for me"]:
        try:
            result = await Runner.run(support, question)
            print(result.final_output)
        except InputGuardrailTripwireTriggered:
            print("Refused: homework")


if __name__ == "__main__":
    asyncio.run(main())
