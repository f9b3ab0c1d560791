"""Expectations: each kind checked against what a run did; bad ones refused by name."""

import time

import pytest

from cases.expectations import Run, check_one, run_of, starting_expectations, validate

RUN = Run(
    final_output='{"status": "shipped", "tracking": "https://t.example/42"}',
    last_agent="Shipping",
    agents=["Triage", "Shipping"],
    tools=[("track_order", '{"order_id": "42"}')],
)


@pytest.mark.parametrize(
    ("expectation", "passed"),
    [
        ({"kind": "output_contains", "text": "SHIPPED"}, True),
        ({"kind": "output_contains", "text": "refund"}, False),
        ({"kind": "output_not_contains", "text": "refund"}, True),
        ({"kind": "output_matches", "pattern": r"https://\S+/\d+"}, True),
        ({"kind": "output_matches", "pattern": r"^Dear"}, False),
        (
            {"kind": "output_json_schema", "schema": {"type": "object", "required": ["tracking"]}},
            True,
        ),
        ({"kind": "output_json_schema", "schema": {"type": "object", "required": ["eta"]}}, False),
        ({"kind": "last_agent", "agent": "Shipping"}, True),
        ({"kind": "last_agent", "agent": "Billing"}, False),
        ({"kind": "tool_called", "tool": "track_order"}, True),
        ({"kind": "tool_called", "tool": "track_order", "arguments": '"order_id": "42"'}, True),
        ({"kind": "tool_called", "tool": "track_order", "arguments": '"order_id": "7"'}, False),
        ({"kind": "tool_not_called", "tool": "refund"}, True),
        ({"kind": "tool_not_called", "tool": "track_order"}, False),
        ({"kind": "handoff_path", "agents": ["Triage", "Shipping"]}, True),
        ({"kind": "handoff_path", "agents": ["Triage", "Billing"]}, False),
    ],
)
def test_each_kind(expectation: dict[str, object], passed: bool) -> None:
    check = check_one(validate([expectation])[0], RUN)
    assert check["passed"] is passed
    assert check["expected"]
    assert bool(check["detail"]) is not passed  # a failure says what happened instead


def test_a_failure_says_what_the_run_did() -> None:
    check = check_one({"kind": "handoff_path", "agents": ["Triage", "Billing"]}, RUN)
    assert check["detail"] == "ran Triage → Shipping"
    check = check_one({"kind": "output_json_schema", "schema": {"type": "array"}}, RUN)
    assert "not as the schema says" in check["detail"]


def test_a_pattern_that_backtracks_forever_fails_in_time() -> None:
    started = time.monotonic()
    slow = Run("a" * 5000 + "!", "", [], [])
    check = check_one({"kind": "output_matches", "pattern": r"^(a|aa)*$"}, slow)
    assert not check["passed"] and "simplify it" in check["detail"]
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    ("expectations", "message"),
    [
        ("last_agent", "must be a list"),
        ([{"kind": "sentiment"}], "kind must be one of"),
        ([{"kind": "last_agent"}], "needs `agent`"),
        ([{"kind": "last_agent", "agent": ""}], "non-empty string"),
        ([{"kind": "last_agent", "agent": "A", "extra": 1}], "unknown fields ['extra']"),
        ([{"kind": "output_matches", "pattern": "("}], "is not a pattern"),
        ([{"kind": "output_json_schema", "schema": {"type": "nope"}}], "`type` must be one of"),
        ([{"kind": "output_json_schema", "schema": {"required": ["a", "a"]}}], "not a JSON Schema"),
        ([{"kind": "handoff_path", "agents": []}], "non-empty list"),
        ([{"kind": "last_agent", "agent": "A"}] * 21, "At most 20"),
    ],
)
def test_bad_expectations_are_refused_by_name(expectations: object, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        validate(expectations)
    assert message in str(raised.value)


def test_what_a_trial_did_reads_from_its_spans() -> None:
    spans = [
        {"type": "agent", "name": "Triage", "data": {}},
        {"type": "handoff", "name": "Triage → Billing", "data": {}},
        {"type": "agent", "name": "Billing", "data": {}},
        {"type": "function", "name": "lookup_invoice", "data": {"input": '{"id": "1"}'}},
    ]
    run = run_of("Paid.", spans)
    assert (run.last_agent, run.agents) == ("Billing", ["Triage", "Billing"])
    assert run.tools == [("lookup_invoice", '{"id": "1"}')]
    assert starting_expectations("Paid.", "Billing") == [
        {"kind": "last_agent", "agent": "Billing"},
        {"kind": "output_contains", "text": "Paid."},
    ]


def test_a_json_schema_may_use_the_keywords_the_document_names() -> None:
    schema = {
        "type": "object",
        "properties": {"tracking": {"type": "string"}, "items": {"type": "array", "items": {}}},
        "required": ["tracking"],
        "additionalProperties": True,
    }
    assert validate([{"kind": "output_json_schema", "schema": schema}])
    for bad, message in [
        ({"type": "object", "minProperties": 1}, "not ['minProperties']"),
        ({"properties": {"a": {"format": "email"}}}, "property 'a'"),
        ({"additionalProperties": {}}, "true or false"),
        ({"type": ["string", "null"]}, "`type` must be one of"),
    ]:
        with pytest.raises(ValueError) as raised:
            validate([{"kind": "output_json_schema", "schema": bad}])
        assert message in str(raised.value)
    with pytest.raises(ValueError, match="NUL"):
        validate([{"kind": "handoff_path", "agents": ["A\x00"]}])
