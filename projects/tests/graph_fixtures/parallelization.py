"""Translate three times in parallel and let a picker choose the best translation."""

import asyncio

from agents import Agent, ItemHelpers, Runner, trace

spanish_agent = Agent(
    name="spanish_agent",
    instructions="You translate the user's message to Spanish",
)

translation_picker = Agent(
    name="translation_picker",
    instructions="You pick the best Spanish translation from the given options.",
)


async def main() -> None:
    msg = input("Hi! Enter a message, and we'll translate it to Spanish.\n\n")
    with trace("Parallel translation"):
        res_1, res_2, res_3 = await asyncio.gather(
            Runner.run(spanish_agent, msg),
            Runner.run(spanish_agent, msg),
            Runner.run(spanish_agent, msg),
        )
        outputs = [ItemHelpers.text_message_outputs(res.new_items) for res in [res_1, res_2, res_3]]
        translations = "\n\n".join(outputs)
        best_translation = await Runner.run(
            translation_picker,
            f"Input: {msg}\n\nTranslations:\n{translations}",
        )
    print(f"Best translation: {best_translation.final_output}")


if __name__ == "__main__":
    asyncio.run(main())
