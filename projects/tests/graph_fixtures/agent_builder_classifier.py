from agents import FileSearchTool, WebSearchTool, Agent, ModelSettings, TResponseInputItem, Runner, RunConfig, trace
from openai.types.shared.reasoning import Reasoning
from pydantic import BaseModel

# Tool definitions
file_search = FileSearchTool(
  vector_store_ids=[
    "vs_68e5a1c2b7d481919f0e2a3b4c5d6e7f"
  ]
)
web_search_preview = WebSearchTool(
  search_context_size="medium",
  user_location={
    "type": "approximate"
  }
)
class ClassifierSchema(BaseModel):
  classification: str


classifier = Agent(
  name="Classifier",
  instructions="""Classify the user's request as one of: return_item, product_question, other.
Answer with the classification only.""",
  model="gpt-4.1-mini",
  output_type=ClassifierSchema,
  model_settings=ModelSettings(
    temperature=1,
    top_p=1,
    max_tokens=2048,
    store=True
  )
)


return_agent = Agent(
  name="Return agent",
  instructions="""Help the customer return an item. Look up the return policy first.""",
  model="gpt-5",
  tools=[
    file_search
  ],
  model_settings=ModelSettings(
    store=True,
    reasoning=Reasoning(
      effort="low",
      summary="auto"
    )
  )
)


product_agent = Agent(
  name="Product agent",
  instructions="""Answer questions about our products. Search the web for specifications.""",
  model="gpt-5",
  tools=[
    web_search_preview,
    file_search
  ],
  model_settings=ModelSettings(
    store=True,
    reasoning=Reasoning(
      effort="medium",
      summary="auto"
    )
  )
)


fallback_agent = Agent(
  name="Fallback agent",
  instructions="""Politely tell the user what this assistant can help with.""",
  model="gpt-5-nano",
  model_settings=ModelSettings(
    store=True,
    reasoning=Reasoning(
      effort="minimal",
      summary="auto"
    )
  )
)


class WorkflowInput(BaseModel):
  input_as_text: str


# Main code entrypoint
async def run_workflow(workflow_input: WorkflowInput):
  with trace("Customer support"):
    state = {

    }
    workflow = workflow_input.model_dump()
    conversation_history: list[TResponseInputItem] = [
      {
        "role": "user",
        "content": [
          {
            "type": "input_text",
            "text": workflow["input_as_text"]
          }
        ]
      }
    ]
    classifier_result_temp = await Runner.run(
      classifier,
      input=[
        *conversation_history
      ],
      run_config=RunConfig(trace_metadata={
        "__trace_source__": "agent-builder",
        "workflow_id": "wf_68e5a1c2b7d48191a0b1c2d3e4f5a6b7"
      })
    )

    conversation_history.extend([item.to_input_item() for item in classifier_result_temp.new_items])

    classifier_result = {
      "output_text": classifier_result_temp.final_output.json(),
      "output_parsed": classifier_result_temp.final_output.model_dump()
    }
    if classifier_result["output_parsed"]["classification"] == "return_item":
      return_agent_result_temp = await Runner.run(
        return_agent,
        input=[
          *conversation_history
        ],
        run_config=RunConfig(trace_metadata={
          "__trace_source__": "agent-builder",
          "workflow_id": "wf_68e5a1c2b7d48191a0b1c2d3e4f5a6b7"
        })
      )
      return_agent_result = {
        "output_text": return_agent_result_temp.final_output_as(str)
      }
      return return_agent_result
    elif classifier_result["output_parsed"]["classification"] == "product_question":
      product_agent_result_temp = await Runner.run(
        product_agent,
        input=[
          *conversation_history
        ],
        run_config=RunConfig(trace_metadata={
          "__trace_source__": "agent-builder",
          "workflow_id": "wf_68e5a1c2b7d48191a0b1c2d3e4f5a6b7"
        })
      )
      return {"output_text": product_agent_result_temp.final_output_as(str)}
    else:
      fallback_agent_result_temp = await Runner.run(
        fallback_agent,
        input=[
          *conversation_history
        ],
        run_config=RunConfig(trace_metadata={
          "__trace_source__": "agent-builder",
          "workflow_id": "wf_68e5a1c2b7d48191a0b1c2d3e4f5a6b7"
        })
      )
      return {"output_text": fallback_agent_result_temp.final_output_as(str)}
