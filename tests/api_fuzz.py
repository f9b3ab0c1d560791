"""`make check`'s contract test: schemathesis against a real server and its own document.

    python -m tests.api_fuzz [extra schemathesis options…]

Starts daphne on a free local port with a scratch SQLite database and media directory
(a temporary directory, removed after), a seeded user with a project, and no model
configured (the model endpoints answer their documented 503 at once). Then runs
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

from tests.servers import ROOT, AppServer, create_user_and_project

DEFAULT_SEED = "29"
DEFAULT_MAX_EXAMPLES = "15"
CONFIG = ROOT / "tests" / "schemathesis.toml"
USERNAME = "fuzzer"


def schemathesis_command(url: str, extra: list[str]) -> list[str]:
    seed = os.environ.get("API_FUZZ_SEED", DEFAULT_SEED)
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "--config-file",
        str(CONFIG),
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
            create_user_and_project(server, username=USERNAME, password=secrets.token_urlsafe())
            server.start()
            print(f"api_fuzz: server at {server.url} ({time.monotonic() - started:.1f} s)")
            env = {
                **server.env,
                "SCHEMATHESIS_HOOKS": "tests.api_fuzz_hooks",
                "PYTHONPATH": str(ROOT),
                "API_FUZZ_USERNAME": USERNAME,
            }
            command = schemathesis_command(server.url, extra)
            # In the scratch directory: schemathesis writes its reports where it runs.
            return subprocess.run(command, cwd=workdir, env=env, check=False).returncode
        finally:
            server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
