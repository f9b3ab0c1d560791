"""The request sent to the model, as the SDK hands it to `RunHooks.on_llm_start`.

Stored beside each response for audit: the instructions and input items exactly as
sent, plus the agent's model, settings and tools (names, descriptions, schemas).
Read from the SDK's public hook arguments and the agent: the SDK is not patched.
"""

from typing import Any

from agents import Agent, AgentOutputSchemaBase


def _dump(item: Any) -> Any:
    if hasattr(item, "model_dump"):
        return item.model_dump(mode="json", exclude_none=True)
    return item


def _tool(tool: Any) -> dict[str, Any]:
    described: dict[str, Any] = {"name": getattr(tool, "name", type(tool).__name__)}
    described["type"] = type(tool).__name__
    if description := getattr(tool, "description", None):
        described["description"] = description
    if (schema := getattr(tool, "params_json_schema", None)) is not None:
        described["parameters"] = schema
    if (tool_format := getattr(tool, "format", None)) is not None:
        described["format"] = _dump(tool_format)
    return described


def model_request(
    agent: Agent[Any], system_prompt: str | None, input_items: list[Any] | str
) -> dict[str, Any]:
    """What this model call sends: a JSON-ready dict."""
    settings = agent.model_settings.to_json_dict() if agent.model_settings else {}
    items = input_items if isinstance(input_items, str) else [_dump(i) for i in input_items]
    return {
        "model": str(agent.model),
        "instructions": system_prompt,
        "input": items,
        "tools": [_tool(tool) for tool in agent.tools],
        "model_settings": {k: v for k, v in settings.items() if v is not None},
        "output_type": _output_type_name(agent.output_type),
    }


def _output_type_name(output_type: Any) -> str | None:
    if isinstance(output_type, AgentOutputSchemaBase):
        return output_type.name()
    return output_type.__name__ if isinstance(output_type, type) else None
