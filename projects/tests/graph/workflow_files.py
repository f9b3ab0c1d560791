"""Hypothesis strategies for Python files shaped like Agents SDK workflows.

`workflow_files()` draws whole files: agents with handoffs, tools, guardrails, clones,
`.as_tool(...)`, `handoff(...)`, list variables and their concatenation and unpacking,
mutations, `Runner.run*` calls, functions running agents one after another and routing
on their results (if/elif/else, match, try), agents built by factory functions,
undecorated guardrail and tool functions, class-held agents; the constructs people write
around them (walrus, match, starred targets, decorators, lambda defaults, f-strings,
async comprehensions, nonlocal, except*); huge literals; and expressions or blocks nested
hundreds of levels deep in every way the parser allows. Every drawn file parses.
Along with the code come the labels of the agents the reader must find in it, block by
block: every prefix of a drawn file is a file too.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TypeVar

from hypothesis import strategies as st

T = TypeVar("T")

AGENTS = ["triage", "billing", "support", "faq", "judge", "writer"]
TOOLS = ["lookup", "refund", "search"]
GUARDS = ["no_homework", "polite"]
LISTS = ["specialists", "toolbox"]
UNKNOWN = ["plugin_agent", "registry.agent", "make_agent()"]

# How many levels each way of nesting may go in a drawn file: brackets stop at 200 in
# the tokenizer, the rest at what the parser's stack takes. Beyond MAX_CODE_NESTING on
# purpose: the reader must survive what was stored before the check.
BRACKETS = 150
BRACKET_BUDGET = 190
CHAINS = 400
BLOCKS = 90  # Python allows 100 levels of indentation


def _wrap(kind: str, depth: int, inner: str) -> str:
    """`inner` nested `depth` levels deep, in one of the ways code nests."""
    match kind:
        case "lambda":
            return "lambda: " * depth + inner
        case "lambda_default":
            return "(lambda x=" * depth + inner + ": x)" * depth
        case "paren":
            return "(" * depth + inner + ")" * depth
        case "list":
            return "[" * depth + inner + "]" * depth
        case "call":
            return "f(" * depth + inner + ")" * depth
        case "dict":
            return "{1: " * depth + inner + "}" * depth
        case "starred":
            return "[*(" * depth + inner + ")]" * depth
        case "walrus":
            return "(w := " * depth + inner + ")" * depth
        case "comprehension":
            return "[" * depth + inner + " for _ in y]" * depth
        case "subscript":
            return f"({inner})" + "[0]" * depth
        case "attribute":
            return f"({inner})" + ".x" * depth
        case "add":
            return f"({inner})" + " + [x]" * depth
        case "ifelse":
            return "x if c else " * depth + inner
        case "not":
            return "not " * depth + inner
        case "unary":
            return "-" * depth + inner
        case "compare":
            return f"({inner})" + " < x" * depth
        case "boolop":
            return f"({inner})" + " and x" * depth
    raise AssertionError(kind)


_LIMIT = {
    "paren": BRACKETS,
    "list": BRACKETS,
    "call": BRACKETS,
    "dict": BRACKETS,
    "starred": BRACKETS // 2,
    "walrus": BRACKETS,
    "comprehension": BRACKETS // 2,
    "lambda_default": BRACKETS,
}
WRAPS = [
    "lambda", "lambda_default", "paren", "list", "call", "dict", "starred", "walrus",
    "comprehension", "subscript", "attribute", "add", "ifelse", "not", "unary", "compare",
    "boolop",
]  # fmt: skip


def bracket_depth(text: str) -> int:
    """How deeply brackets nest in `text` (brackets in string literals count too: an
    overestimate, which only makes the budget below stricter)."""
    depth = deepest = 0
    for character in text:
        if character in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif character in ")]}":
            depth = max(depth - 1, 0)
    return deepest


@cache
def _below(count: int) -> st.SearchStrategy[int]:
    # Strategies built once: building one per draw costs more than the draw.
    return st.integers(0, count - 1)


def pick(draw: st.DrawFn, choices: Sequence[T]) -> T:
    return choices[draw(_below(len(choices)))]


def chance(draw: st.DrawFn, one_in: int) -> bool:
    return draw(_below(one_in)) == 0


@st.composite
def nested(draw: st.DrawFn, inner: str) -> str:
    """`inner` as it is, or nested shallowly, or (rarely) hundreds of levels deep."""
    if inner.startswith("*"):
        return inner  # `*x` stands only in a list or a call
    how = pick(draw, ["flat"] * 10 + ["shallow"] * 4 + ["deep"])
    if how == "flat":
        return inner
    if inner.startswith("lambda"):
        inner = f"({inner})"  # `not lambda: x` is not Python; `not (lambda: x)` is
    kind = pick(draw, WRAPS)
    limit = _LIMIT.get(kind)
    # Nested wrappers share the tokenizer's 200 levels of brackets (keep some for the
    # statement around them).
    limit = CHAINS if limit is None else max(0, min(limit, BRACKET_BUDGET - bracket_depth(inner)))
    if limit == 0:
        return inner
    depth = 1 + draw(_below(min(5, limit) if how == "shallow" else limit))
    return _wrap(kind, depth, inner)


@st.composite
def member(draw: st.DrawFn) -> str:
    """One thing in a `handoffs=` or `tools=` list."""
    agent = pick(draw, AGENTS)
    choices: list[Callable[[], str]] = [
        lambda: agent,
        lambda: f"handoff({agent})",
        lambda: f"handoff(agent={agent}, tool_name_override='go')",
        lambda: "handoff()",
        lambda: f"{agent}.as_tool(tool_name='ask_{agent}', tool_description='Ask.')",
        lambda: f"{agent}.as_tool()",
        lambda: pick(draw, TOOLS),
        lambda: f"function_tool({pick(draw, TOOLS)})",
        lambda: "WebSearchTool()",
        lambda: "FileSearchTool(vector_store_ids=['v'])",
        lambda: "HostedMCPTool(tool_config={'server_label': 'x'})",
        lambda: f"FunctionTool(name='custom_{pick(draw, TOOLS)}', on_invoke_tool=None)",
        lambda: f"*{pick(draw, LISTS)}",
        lambda: pick(draw, UNKNOWN),
        lambda: "None",
        lambda: "42",
        lambda: f"{agent} if flag else {pick(draw, AGENTS)}",
        lambda: f"Agent(name='inline_{agent}')",
    ]
    return draw(nested(pick(draw, choices)()))


@st.composite
def agent_list(draw: st.DrawFn) -> str:
    members = [draw(member()) for _ in range(draw(_below(5)))]
    listed = "[" + ", ".join(members) + "]"
    shape = pick(draw, ["list", "list", "tuple", "variable", "concat", "unpacked", "none", "deep"])
    match shape:
        case "tuple":
            return "(" + ", ".join(members) + ("," if len(members) == 1 else "") + ")"
        case "variable":
            return pick(draw, LISTS)
        case "concat":
            return f"{pick(draw, LISTS)} + {listed}"
        case "unpacked":
            return f"[*{pick(draw, LISTS)}, {', '.join(members) or 'x'}]"
        case "none":
            return "None"
        case "deep":
            return draw(nested(listed))
    return listed


TEXT = st.text(max_size=40)


@st.composite
def text_value(draw: st.DrawFn) -> str:
    choices: list[Callable[[], str]] = [
        lambda: repr(draw(TEXT)),
        lambda: '"""Line one.\n\nLine two."""',
        lambda: repr("x" * pick(draw, [0, 100, 20_000])),  # up to a huge literal
        lambda: f"f'Help with {{topic!r:>{{width}}}} and {{ {pick(draw, AGENTS)}.name }}.'",
        lambda: "instructions_for",  # a function: dynamic instructions
        lambda: "lambda context, agent: 'dynamic'",
        lambda: "PROMPT",  # a module constant
        lambda: "PROMPT + ' More.'",
        lambda: "None",
    ]
    return draw(nested(pick(draw, choices)()))


@dataclass
class File:
    lines: list[str] = field(default_factory=list)
    agents: set[str] = field(default_factory=set)  # labels the reader must find

    def add(self, text: str, indent: int = 0) -> None:
        pad = "    " * indent
        self.lines.extend(pad + line if line else line for line in text.splitlines())


KEYWORDS: list[tuple[str, Callable[[st.DrawFn], str]]] = [
    ("instructions", lambda draw: draw(text_value())),
    ("model", lambda draw: pick(draw, ["'gpt-5'", "MODEL", "None", "settings.model"])),
    ("handoffs", lambda draw: draw(agent_list())),
    ("tools", lambda draw: draw(agent_list())),
    ("input_guardrails", lambda draw: draw(agent_list())),
    ("output_guardrails", lambda draw: draw(agent_list())),
    ("output_type", lambda draw: pick(draw, ["Verdict", "list[str]", "AgentOutputSchema(X)"])),
    ("handoff_description", lambda draw: draw(text_value())),
]


@st.composite
def agent_call(draw: st.DrawFn, label: str) -> str:
    callee = pick(draw, ["Agent", "Agent", "agents.Agent", "Agent[Context]"])
    arguments = [repr(label) if chance(draw, 4) else f"name={label!r}"]
    for keyword, value in KEYWORDS:
        if chance(draw, 2):
            arguments.append(f"{keyword}={value(draw)}")
    if chance(draw, 10):
        arguments.append("**extra")
    return f"{callee}({', '.join(arguments)})"


STATEMENTS = [
    "agent", "agent", "agent", "tool", "guardrail", "clone", "list", "mutation", "run",
    "async_main", "class", "odd", "deep_block", "deep_value", "rebind", "routed", "factory",
    "plain_function",
]  # fmt: skip
CONDITIONS = [
    "first.final_output.kind == 'a'",
    "parsed['output_parsed']['category'] in ('x', 'y')",
    "not first",
    "(w := first.final_output) and w.ok",
    "check(" * 60 + "first" + ")" * 60,
]


@st.composite
def statement(draw: st.DrawFn, file: File, index: int) -> None:
    """One top-level statement (or block) added to `file`."""
    agent = pick(draw, AGENTS)
    other = pick(draw, AGENTS)
    match pick(draw, STATEMENTS):
        case "agent":
            label = f"{agent.title()} {index}"
            file.add(f"{agent} = {draw(agent_call(label))}")
            file.agents.add(label)
        case "tool":
            name = pick(draw, TOOLS)
            decorator = pick(
                draw,
                [
                    "@function_tool",
                    f"@function_tool(name_override='{name}_tool')",
                    "@agents.function_tool",
                    "@function_tool()",
                ],
            )
            run = f"await Runner.run({other}, 'x')" if chance(draw, 2) else "'done'"
            file.add(
                f"{decorator}\n@traced(level=1)\nasync def {name}(query: str = "
                f"(lambda y=1: str(y))()) -> str:\n    return {run}"
            )
        case "guardrail":
            name = pick(draw, GUARDS)
            decorator = pick(draw, ["input_guardrail", "output_guardrail"])
            form = pick(draw, [f"@{decorator}", f"@{decorator}(name='{name}!')"])
            file.add(
                f"{form}\nasync def {name}(ctx, agent, data):\n"
                f"    result = await Runner.run({other}, data, context=ctx.context)\n"
                "    return GuardrailFunctionOutput(output_info=result, tripwire_triggered=False)"
            )
        case "clone":
            label = f"{agent.title()} clone {index}"
            lists = f", handoffs={draw(agent_list())}" if chance(draw, 2) else ""
            file.add(f"{other} = {agent}.clone(name={label!r}{lists})")
        case "list":
            file.add(f"{pick(draw, LISTS)} = {draw(agent_list())}")
        case "mutation":
            owner = draw(nested(agent))
            forms: list[Callable[[], str]] = [
                lambda: f"({owner}).handoffs.append({draw(member())})",
                lambda: f"({owner}).tools.extend({draw(agent_list())})",
                lambda: f"({owner}).handoffs = {draw(agent_list())}",
                lambda: f"({owner}).tools.insert(0, {draw(member())})",
                lambda: f"{agent}.handoffs += [{other}]",
            ]
            file.add(pick(draw, forms)())
        case "run":
            method = pick(draw, ["run", "run_sync", "run_streamed"])
            runner = pick(draw, ["Runner", "agents.Runner"])
            start = draw(nested(agent))
            argument = pick(draw, [f"{start}, 'hi'", f"starting_agent={start}, input='x'", "*a"])
            file.add(f"result = {runner}.{method}({argument})")
        case "async_main":
            file.add(
                "async def main() -> None:\n"
                "    found = [a async for a in stream() if (n := a)]\n"
                "    async with session() as s:\n"
                f"        result = await Runner.run({agent}, f'{{found!r}}', session=s)\n"
                "    print(result.final_output)"
            )
        case "class":
            label = f"Held {index}"
            file.add(
                "class Team:\n"
                "    def __init__(self) -> None:\n"
                f"        self.lead = {draw(agent_call(label))}\n"
                f"        self.helper = {other}\n"
                "    async def go(self) -> None:\n"
                "        await Runner.run(self.lead, 'x')"
            )
            file.agents.add(label)
        case "odd":
            file.add(pick(draw, ODD))
        case "deep_block":
            depth = 1 + draw(_below(BLOCKS))
            opener = pick(draw, BLOCK_OPENERS)
            for level in range(depth):
                file.add(opener.format(level=level), level)
            label = f"Buried {index}"
            # Agents inside functions and blocks are still read.
            file.add(f"{agent} = Agent(name={label!r}, handoffs=[{other}])", depth)
            if chance(draw, 2):  # runs in blocks deeper than the order of runs is read
                file.add(f"if {agent}:\n    Runner.run_sync({other}, 'x')", depth)
            file.agents.add(label)
        case "deep_value":
            file.add(f"{agent} = {draw(nested(draw(agent_call(f'Wrapped {index}'))))}")
        case "routed":
            # Runs in order, with branches on the first one's result (Agent Builder's export).
            body = [
                f"first = {pick(draw, ['await ', ''])}Runner.run({agent}, text)",
                "parsed = {'output_parsed': first.final_output.model_dump()}",
            ]
            for _ in range(1 + draw(_below(4))):
                target = pick(draw, AGENTS)
                condition = pick(draw, CONDITIONS)
                form = pick(draw, ["if", "match", "try", "loop", "plain"])
                if form == "if":
                    body += [
                        f"if {condition}:",
                        f"    r = await Runner.run({target}, text)",
                        f"elif {pick(draw, CONDITIONS)}:",
                        "    return 'no'" if chance(draw, 2) else "    pass",
                        "else:",
                        f"    r = Runner.run_sync({pick(draw, AGENTS)}, text)",
                    ]
                elif form == "match":
                    body += [
                        "match first.final_output:",
                        f"    case {{'kind': 'a'}} if {condition}:",
                        f"        await Runner.run({target}, text)",
                        "    case _:",
                        "        raise ValueError",
                    ]
                elif form == "try":
                    body += [
                        "try:",
                        f"    await Runner.run({target}, text)",
                        "except* (TimeoutError, OSError):" if chance(draw, 4) else "except:",
                        f"    Runner.run_streamed({other}, text)",
                        "finally:",
                        "    pass",
                    ]
                elif form == "loop":
                    body += [
                        f"while {condition}:",
                        f"    first = await Runner.run({target}, text)",
                        "    break",
                        "else:",
                        "    pass",
                    ]
                else:
                    body.append(
                        f"await asyncio.gather(Runner.run({target}, text), Runner.run({other}, x))"
                    )
            name = pick(draw, ["run_workflow", "main", "handle"])
            file.add(f"async def {name}(text):\n" + "\n".join("    " + line for line in body))
        case "factory":
            label = f"Made {index}"
            file.add(
                "def make_agent(name, instructions='Help.', *extra, model=None, **options):\n"
                f"    built = Agent(name=name, instructions=instructions, model=model, "
                f"handoffs=[*extra], tools={draw(agent_list())})\n"
                "    return built"
            )
            call = pick(
                draw,
                [
                    f"make_agent({label!r})",
                    f"make_agent(name={label!r}, model='gpt-5')",
                    f"make_agent({label!r}, 'Route.', {other}, {agent})",
                    f"make_agent({label!r}, *args, **kwargs)",
                ],
            )
            file.add(f"{agent} = {call}")
            file.agents.add(label)
        case "plain_function":
            name = pick(draw, GUARDS + TOOLS)
            wrapper = pick(
                draw,
                [
                    f"InputGuardrail(guardrail_function={name})",
                    f"OutputGuardrail({name})",
                    f"function_tool({name})",
                    name,
                ],
            )
            keyword = pick(draw, ["tools", "input_guardrails", "output_guardrails", "handoffs"])
            label = f"Guarded {index}"
            file.add(
                f"async def {name}(ctx, agent, data):\n    return await Runner.run({other}, data)\n"
                f"{agent} = Agent(name={label!r}, {keyword}=[{wrapper}])"
            )
            file.agents.add(label)
        case "rebind":
            lists = pick(draw, LISTS)
            file.add(
                pick(
                    draw,
                    [
                        f"{agent} = {agent}",
                        f"{agent} = {other}",
                        f"{lists} = {lists} + [{agent}]",
                        f"{agent}, *rest = [{other}, {agent}]",
                        f"del {agent}",
                    ],
                )
            )


TRY = "try:  # nested"  # closed by a `finally:` after its body (_close_try_blocks)
BLOCK_OPENERS = [
    "def level{level}():",
    "async def level{level}():",
    "if flag:",
    "for item in items:",
    "while running:",
    "with context() as c:",
    "class Level{level}:",
    TRY,
]


ODD = [
    "if (walrus := Agent(name='Walrus')):\n    Runner.run_sync(walrus, 'x')",
    "match command:\n"
    "    case Agent(name='Matched') as m:\n"
    "        Runner.run_sync(m, 'x')\n"
    "    case [*rest] if rest:\n"
    "        pass\n"
    "    case {'k': value, **others}:\n"
    "        pass\n"
    "    case str() | bytes():\n"
    "        pass\n"
    "    case _:\n"
    "        pass",
    "first, *others = [triage, billing]\n(a, b), c = (faq, judge), writer",
    "pick = lambda agent=triage, *args, k=Agent(name='Lambda default'), **kw: agent",
    "label = f\"{triage.name!r:>{width}} {'nested'} {f'{billing}'}\"",
    "def outer():\n"
    "    count = 0\n"
    "    def inner():\n"
    "        nonlocal count\n"
    "        global MODEL\n"
    "        count += 1\n"
    "    return inner",
    "try:\n    pass\nexcept* ValueError as group:\n    pass",
    "PROMPT = 'You are helpful.'\nMODEL = 'gpt-5'",
    "def instructions_for(context, agent):\n    return 'dynamic'",
    "agents_by_name: dict[str, Agent] = {a.name: a for a in [triage, billing]}",
    "assert triage, 'needed'\nx = yield_ = ...\ny = 1_000_000j + 0x_ff + 0o17 + 0b1",
    "def gen():\n    x = yield\n    yield from [triage]\n    return (yield)",
    "big = " + repr(list(range(500))),
    "text = " + repr("é" * 2000 + "\n" * 100),
    "data = b'\\x00\\xff' * 10\nraw = r'\\d+'\nrawb = rb'\\x'",
    "@dataclass(frozen=True)\nclass Context:\n    user: str = 'x'\n"
    "    tags: list[str] = field(default_factory=list)",
    "with open('a') as f, open('b') as (g):\n    pass",
    "print(*[triage], **{'sep': ''}, end='')",
    "x = [y for y in range(3) if y for z in [y] if (w := z)]\n"
    "z = {k: v for k, v in {}.items()}\ns = {*x}",
    "lazy = (lambda: Agent(name='Never built'))\nempty = Agent()\nodd = Agent(123)\n"
    "none = Agent(name=None)",
    "Runner.run()\nRunner.run(starting_agent=None)\nRunner.run_sync(*args, **kwargs)",
    "handoff()\nx = triage.clone()\ny = Agent(name='Chained').clone(name='Chained copy')",
    "InputGuardrail(guardrail_function=no_homework)\nOutputGuardrail()",
    "cycle_a = cycle_b\ncycle_b = cycle_a + [cycle_a]\nspecialists = specialists + [faq]",
]


HEADER = (
    "from agents import Agent, Runner, function_tool, handoff, input_guardrail\nimport agents\n"
)


@dataclass(frozen=True)
class Workflow:
    """A drawn file as its top-level blocks, each with the agent labels it defines."""

    blocks: list[tuple[str, frozenset[str]]]

    def code(self, count: int | None = None) -> str:
        """The file, or the file cut after its first `count` blocks (a file too)."""
        return HEADER + "".join(text for text, _ in self.blocks[:count])

    def agents(self, count: int | None = None) -> set[str]:
        return {label for _, labels in self.blocks[:count] for label in labels}


@st.composite
def workflow_files(draw: st.DrawFn) -> Workflow:
    blocks = []
    for index in range(draw(_below(11))):
        block = File()
        draw(statement(block, index))
        text = "\n".join(_close_try_blocks(block.lines)) + "\n"
        blocks.append((text, frozenset(block.agents)))
    return Workflow(blocks)


def _close_try_blocks(lines: list[str]) -> list[str]:
    """A `try:` line from a deep block needs a `finally:`; add one after its body."""
    closed: list[str] = []
    open_tries: list[int] = []  # indentation of each open `try:`
    for line in lines:
        indent = len(line) - len(line.lstrip(" "))
        while open_tries and line.strip() and indent <= open_tries[-1]:
            closed.append(" " * open_tries[-1] + "finally:\n" + " " * open_tries[-1] + "    pass")
            open_tries.pop()
        closed.append(line)
        if line.strip() == TRY:
            open_tries.append(indent)
    while open_tries:
        pad = " " * open_tries.pop()
        closed.append(f"{pad}finally:\n{pad}    pass")
    return closed
