"""What model calls cost: priced per message from the price table, summed per run,
session and project."""

from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured

from projects.services import create_project
from sessions_app import model_prices
from sessions_app.costs import cost_of_usage, format_usd
from sessions_app.models import ConversationMessage
from sessions_app.services import get_or_create_session

CODE = 'from agents import Agent\n\nbot = Agent(name="Bot", instructions="Help.")\n'


def usage(model: str, prompt: int, cached: int, completion: int) -> dict:
    return {
        "model": model,
        "agent": "vibecoder",
        "iteration": 1,
        "prompt_tokens": prompt,
        "cached_tokens": cached,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def test_known_usage_is_priced_with_cached_tokens_at_the_cached_rate() -> None:
    # gpt-5: $1.25 input, $0.125 cached input, $10 output per 1M tokens.
    cost = cost_of_usage(usage("gpt-5", prompt=1_000_000, cached=400_000, completion=100_000))

    assert cost == Decimal("0.75") + Decimal("0.05") + Decimal("1.00")
    # The same tokens all uncached cost more: the cached ones were not priced as input.
    uncached = cost_of_usage(usage("gpt-5", prompt=1_000_000, cached=0, completion=100_000))
    assert uncached == Decimal("2.25")
    # gpt-5-mini, a small call: priced to the hundred-millionth of a dollar.
    assert cost_of_usage(usage("gpt-5-mini", 1200, 200, 300)) == Decimal("0.000855")
    # A dated snapshot is its model.
    assert cost_of_usage(usage("gpt-5-mini-2025-08-07", 1200, 200, 300)) == Decimal("0.000855")


def test_unknown_model_has_no_cost() -> None:
    assert cost_of_usage(usage("llama-3.3-70b", 1000, 0, 100)) is None
    assert cost_of_usage(None) is None
    # Cached tokens never count twice, and counts that are not numbers count as none.
    assert cost_of_usage(usage("gpt-5", 100, 500, 0)) == Decimal("0.0000125")
    assert cost_of_usage({"model": "gpt-5", "prompt_tokens": "lots"}) == Decimal(0)


def test_model_prices_json_adds_replaces_and_removes_models(settings) -> None:
    table = model_prices.load(
        '{"local-coder": {"input": 0.5, "output": 1.5},'
        ' "gpt-5-mini": {"input": 1, "cached_input": 0.1, "output": 4},'
        ' "gpt-5": null}'
    )
    settings.MODEL_PRICES = table

    # No cached price given: cached tokens cost the input price.
    assert cost_of_usage(usage("local-coder", 2_000_000, 1_000_000, 1_000_000)) == Decimal("2.5")
    assert cost_of_usage(usage("gpt-5-mini", 1_000_000, 500_000, 0)) == Decimal("0.55")
    assert cost_of_usage(usage("gpt-5", 1000, 0, 0)) is None
    assert cost_of_usage(usage("gpt-4.1", 1_000_000, 0, 0)) == Decimal("2.00")  # defaults stay


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"m": 3}', "must be an object"),
        ('{"m": {"input": 1}}', "needs 'output'"),
        ('{"m": {"input": -1, "output": 1}}', ">= 0"),
        ('{"m": {"input": "cheap", "output": 1}}', "must be a number"),
        ('{"m": {"input": 1, "output": 1, "cache": 1}}', "unknown keys ['cache']"),
    ],
)
def test_a_bad_model_prices_names_the_problem(text: str, problem: str) -> None:
    with pytest.raises(model_prices.PriceTableError, match=problem.replace("[", r"\[")):
        model_prices.load(text)


def test_settings_refuse_a_bad_model_prices(monkeypatch) -> None:
    import importlib

    import vibegrapher.settings as settings_module

    monkeypatch.setenv("MODEL_PRICES", '{"m": {"input": 1}}')
    try:
        with pytest.raises(ImproperlyConfigured, match="needs 'output'"):
            importlib.reload(settings_module)
        monkeypatch.setenv("MODEL_PRICES", '{"m": {"input": 1, "output": 2}}')
        assert importlib.reload(settings_module).MODEL_PRICES["m"].output == Decimal(2)
    finally:
        monkeypatch.delenv("MODEL_PRICES")
        importlib.reload(settings_module)


def test_format_usd() -> None:
    assert format_usd(Decimal("0.0123456")) == "$0.0123"
    assert format_usd(Decimal("0.00005")) == "<$0.0001"
    assert format_usd(Decimal(0)) == "$0.0000"
    assert format_usd(Decimal("12.5")) == "$12.5000"


def _message(session, usage_: dict | None, trace: str = "", **fields) -> ConversationMessage:
    return ConversationMessage.objects.create(
        session=session,
        role="assistant" if usage_ else "user",
        agent=(usage_ or {}).get("agent", "user"),
        content="x",
        token_usage=usage_,
        cost_usd=cost_of_usage(usage_),
        trace_id=trace,
        **fields,
    )


@pytest.mark.django_db
def test_usage_per_run_session_and_project(api, other_api, user) -> None:
    project = create_project(user, "Costly", CODE)
    session = get_or_create_session(project, "global")[0]
    node = get_or_create_session(project, "node", "Bot")[0]
    first = _message(session, None)
    _message(session, usage("gpt-5", 1_000_000, 0, 0), "trace_a", iteration=1)
    _message(session, {**usage("gpt-5-mini", 1_000_000, 0, 0), "agent": "evaluator"},
             "trace_a", iteration=1)  # fmt: skip
    second = _message(session, None)
    _message(session, usage("local-model", 500, 0, 500), "trace_b", iteration=1)
    _message(node, usage("gpt-5", 0, 0, 100_000), "trace_c", iteration=1)

    got = api.get(f"/api/sessions/{session.id}/usage")
    whole = api.get(f"/api/projects/{project.id}/usage")

    assert got.status_code == 200, got.content
    body = got.json()
    assert (body["total_tokens"], body["cost_usd"], body["unpriced_tokens"]) == (
        2_001_000, 1.5, 1000
    )  # fmt: skip
    assert [
        (r["trace_id"], r["request_message_id"], r["total_tokens"], r["cost_usd"])
        for r in body["runs"]
    ] == [
        ("trace_a", str(first.id), 2_000_000, 1.5),
        ("trace_b", str(second.id), 1000, None),  # tokens only: no price for its model
    ]
    assert whole.status_code == 200
    assert (whole.json()["total_tokens"], whole.json()["cost_usd"]) == (2_101_000, 2.5)
    assert [(s["session_type"], s["cost_usd"]) for s in whole.json()["sessions"]] == [
        ("global", 1.5),
        ("node", 1.0),
    ]
    messages = api.get(f"/api/sessions/{session.id}/messages").json()["results"]
    assert [m["cost_usd"] for m in messages] == [None, 1.25, 0.25, None, None]
    assert other_api.get(f"/api/sessions/{session.id}/usage").status_code == 404
    assert other_api.get(f"/api/projects/{project.id}/usage").status_code == 404


@pytest.mark.django_db
def test_pages_show_cost_beside_tokens(client, user) -> None:
    project = create_project(user, "Shown", CODE)
    session = get_or_create_session(project, "global")[0]
    request = _message(session, None)
    _message(session, usage("gpt-5", 10_000, 0, 1_000), "trace_a", iteration=1)
    _message(session, usage("local-model", 100, 0, 10), "trace_a", iteration=1)
    client.force_login(user)

    page = client.get(f"/projects/{project.id}/").content.decode()
    listing = client.get("/").content.decode()

    # $0.0125 + $0.0100 for gpt-5's call; the local model's 110 tokens have no price.
    assert "11,000 tokens · $0.0225</span>" in page  # the message
    assert "11,110 tokens · $0.0225 + unpriced tokens" in page  # the session
    assert f'id="run-{request.id}"' in page and "this run: 11,110 tokens" in page
    assert 'id="project-usage"' in page
    assert "11,110 tokens · $0.0225 + unpriced tokens" in listing
