"""`make check`'s contract test: schemathesis against a real server and its own document.

    python -m tests.system.api_fuzz [extra schemathesis options…]

Starts daphne on a free local port with a scratch SQLite database and media directory
(a temporary directory, removed after), and no model configured (the model endpoints
answer their documented 503 at once). The seeded user has a project with a session, a
message, a test case and a diff: the API creates diffs and messages only through model
runs, so the fuzzer is given these two ids for `diff_id` and `message_id` (every other
id it makes itself, or takes through the document's links). Then runs
`schemathesis run` on the served `/api/schema/` with every check and every phase,
stateful included, and exits with its status: any failure fails `make check`.

The seed is fixed (API_FUZZ_SEED, default below) so that a red check is the API's
doing, reproducible with the same command, and not a new random draw; set
API_FUZZ_SEED=random to explore. API_FUZZ_MAX_EXAMPLES bounds the cases per operation.
"""

import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

from tests.support.servers import ROOT, AppServer

DEFAULT_SEED = "29"
DEFAULT_MAX_EXAMPLES = "15"
CONFIG = Path(__file__).resolve().parent / "schemathesis.toml"
USERNAME = "fuzzer"

SEED = """
import json
from django.contrib.auth.models import User
from agents_app.patching import unified_diff
from projects.models import TestCase
from projects.services import create_project
from reviews.models import Diff
from sessions_app.models import ConversationMessage
from sessions_app.services import get_or_create_session
code = "from agents import Agent\\n\\nbot = Agent(name='Bot', instructions='Help.')\\n"
patched = code.replace("Help.", "Help kindly.")
user = User.objects.create_user({username!r}, password={password!r})
project = create_project(user, "Seeded", code)
session, _ = get_or_create_session(project, "global", "")
TestCase.objects.create(
    project=project, name="Imports", test_code="import workflow\\n", quick_test=True
)
message = ConversationMessage.objects.create(
    session=session, role="assistant", agent="vibecoder", content="A kinder bot."
)
diff = Diff.objects.create(
    session=session,
    project=project,
    base_commit=project.current_commit,
    diff_content=unified_diff(code, patched, "workflow.py"),
    patched_code=patched,
    vibecoder_prompt="Be kind",
    evaluator_reasoning="Fine.",
    commit_message="feat: kinder",
)
print(json.dumps({{"diff_id": str(diff.id), "message_id": str(message.id)}}))
"""


def write_config(workdir: Path, ids: dict[str, str]) -> Path:
    """tests/system/schemathesis.toml, with the seeded ids as the values of their parameters."""
    lines = [CONFIG.read_text(), "[parameters]"]
    lines += [f'"path.{name}" = "{value}"' for name, value in sorted(ids.items())]
    config = workdir / "schemathesis.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


def schemathesis_command(url: str, config: Path, extra: list[str]) -> list[str]:
    seed = os.environ.get("API_FUZZ_SEED", DEFAULT_SEED)
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "--config-file",
        str(config),
        "--no-color",
        "run",
        f"{url}/api/schema/?format=json",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        os.environ.get("API_FUZZ_MAX_EXAMPLES", DEFAULT_MAX_EXAMPLES),
        "--generation-database",
        "none",
        "--request-timeout",
        "60",
    ]
    if seed != "random":
        command += ["--seed", seed]
    return command + extra


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks below


def main(extra: list[str]) -> int:
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    with tempfile.TemporaryDirectory(prefix="api-fuzz-") as scratch:
        workdir = Path(scratch)
        server = AppServer(
            workdir,
            VIBEGRAPHER_IGNORE_DOTENV="1",
            # No model: the endpoints that would start a run answer 503 at once.
            OPENAI_API_KEY="",
            OPENAI_BASE_URL="",
            REDIS_URL="",
            SECRET_KEY=secrets.token_urlsafe(32),
        )
        try:
            started = time.monotonic()
            server.manage("migrate", "--no-input")
            ids = server.python(SEED.format(username=USERNAME, password=secrets.token_urlsafe()))
            server.start()
            print(f"api_fuzz: server at {server.url} ({time.monotonic() - started:.1f} s)")
            env = {
                **server.env,
                "SCHEMATHESIS_HOOKS": "tests.system.api_fuzz_hooks",
                "PYTHONPATH": str(ROOT),
                "API_FUZZ_USERNAME": USERNAME,
            }
            command = schemathesis_command(server.url, write_config(workdir, ids), extra)
            # In the scratch directory: schemathesis writes its reports where it runs.
            return subprocess.run(command, cwd=workdir, env=env, check=False).returncode
        finally:
            server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
