"""The queue boundary without workers: which process runs sandboxes, and that a web
process of `SANDBOX_JOBS=queue` refuses to (its jobs go to the workers:
tests/system/test_sandbox_workers.py runs them there)."""

import asyncio

import pytest
from django.test import override_settings

from testruns import jobs, sandbox


def test_inline_runs_here_and_checks_the_sandbox() -> None:
    with override_settings(SANDBOX_JOBS="inline", TEST_SANDBOX="no-such-mode"):
        assert jobs.runs_here()
        with pytest.raises(sandbox.SandboxUnavailable, match="no-such-mode"):
            jobs.check_available()


def test_a_queue_web_process_runs_no_sandbox() -> None:
    with override_settings(SANDBOX_JOBS="queue", TEST_SANDBOX="no-such-mode"):
        assert not jobs.runs_here()
        jobs.check_available()  # the workers check their own sandbox
        with pytest.raises(sandbox.SandboxUnavailable, match="SANDBOX_JOBS=queue"):
            asyncio.run(
                sandbox.run_test({"t.py": "print(1)"}, "t.py", sandbox.limits_for(quick=True))
            )


def test_the_worker_runs_here() -> None:
    with override_settings(SANDBOX_JOBS="worker"):
        assert jobs.runs_here()


def test_keys_carry_the_prefix() -> None:
    with override_settings(REDIS_KEY_PREFIX="p:"):
        assert jobs.key("job", "a-1", "claim") == "p:sandbox:job:a-1:claim"
