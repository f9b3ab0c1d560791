from agents import HostedMCPTool, CodeInterpreterTool, Agent, ModelSettings, TResponseInputItem, Runner, RunConfig, trace
from openai.types.shared.reasoning import Reasoning
from pydantic import BaseModel
from shared_agents import escalation_agent

# Tool definitions
mcp = HostedMCPTool(tool_config={
  "type": "mcp",
  "server_label": "zapier",
  "server_url": "https://mcp.zapier.com/api/mcp/mcp",
  "allowed_tools": [
    "gmail_send_email"
  ],
  "require_approval": "always"
})
code_interpreter = CodeInterpreterTool(tool_config={
  "type": "code_interpreter",
  "container": {
    "type": "auto",
    "file_ids": []
  }
})
analyst = Agent(
  name="Analyst",
  instructions="""Analyse the spreadsheet the user attached and summarise the trend.""",
  model="gpt-5",
  tools=[
    code_interpreter
  ],
  model_settings=ModelSettings(
    store=True,
    reasoning=Reasoning(
      effort="low",
      summary="auto"
    )
  )
)


mailer = Agent(
  name="Mailer",
  instructions="""Send the summary by email to the address the user gave.""",
  model="gpt-5-mini",
  tools=[
    mcp
  ],
  handoffs=[
    escalation_agent
  ],
  model_settings=ModelSettings(
    store=True,
    reasoning=Reasoning(
      effort="low",
      summary="auto"
    )
  )
)


def approval_request(message: str):
  # TODO: Implement
  return True

class WorkflowInput(BaseModel):
  input_as_text: str


# Main code entrypoint
async def run_workflow(workflow_input: WorkflowInput):
  with trace("Spreadsheet summary by email"):
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
    analyst_result_temp = await Runner.run(
      analyst,
      input=[
        *conversation_history
      ],
      run_config=RunConfig(trace_metadata={
        "__trace_source__": "agent-builder",
        "workflow_id": "wf_68e5b0c1d2e3f4a5b6c7d8e9f0a1b2c3"
      })
    )
    conversation_history.extend([item.to_input_item() for item in analyst_result_temp.new_items])
    approval_message = "Send this summary by email?"

    if approval_request(approval_message):
      mailer_result_temp = await Runner.run(
        mailer,
        input=[
          *conversation_history
        ],
        run_config=RunConfig(trace_metadata={
          "__trace_source__": "agent-builder",
          "workflow_id": "wf_68e5b0c1d2e3f4a5b6c7d8e9f0a1b2c3"
        })
      )
      return {"output_text": mailer_result_temp.final_output_as(str)}
    else:
      return {"message": "Not sent."}
