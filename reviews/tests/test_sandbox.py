"""The sandbox contains what model-written code might do, and reports it with the right status."""

import asyncio
import os
import time
from pathlib import Path

import pytest
from django.conf import settings

from reviews import sandbox
from reviews.sandbox import SandboxLimits, SandboxUnavailable, run_test

SHORT = SandboxLimits(wall_seconds=3)


pytestmark = pytest.mark.usefixtures("bubblewrap")


async def run(code: str, limits: SandboxLimits = SHORT) -> sandbox.SandboxResult:
    return await run_test({"test.py": code}, "test.py", limits)


async def test_a_passing_and_a_failing_test() -> None:
    passed = await run("print('fine')")
    failed = await run("assert 1 + 1 == 3, 'arithmetic is broken'")

    assert (passed.status, passed.output.strip()) == ("passed", "fine")
    assert passed.isolation == "bubblewrap"
    assert failed.status == "failed"
    assert "AssertionError: arithmetic is broken" in failed.output


async def test_no_network() -> None:
    result = await run(
        "import socket\n"
        "s = socket.create_connection(('127.0.0.1', 5432), timeout=2)\n"  # PostgreSQL, on the host
    )

    assert result.status == "failed"
    assert "Network is unreachable" in result.output or "Connection refused" in result.output


async def test_writes_only_inside_its_directory(tmp_path: Path) -> None:
    outside = tmp_path / "escaped.txt"
    paths = [str(outside), "/usr/escaped.txt", "/escaped.txt"]
    result = await run(
        "open('inside.txt', 'w').write('ok')\n"
        f"for path in {paths!r}:\n"
        "    try:\n"
        "        open(path, 'w').write('x')\n"
        "    except OSError as exc:\n"
        "        print('refused', path, exc.strerror)\n"
        "    else:\n"
        "        print('WROTE', path)\n"
    )

    assert result.status == "passed", result.output
    assert "WROTE" not in result.output
    assert result.output.count("refused") == 3
    assert not outside.exists()


async def test_sees_neither_the_server_environment_nor_its_files(monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-server-secret")
    monkeypatch.setenv("SECRET_KEY", "django-server-secret")
    server_files = [str(settings.BASE_DIR / "manage.py"), str(settings.MEDIA_ROOT), "/etc/passwd"]
    result = await run(
        "import os\n"
        "print(sorted(os.environ))\n"
        "print(open('/proc/1/environ', 'rb').read())\n"
        f"for path in {server_files!r}:\n"
        "    print(path, os.path.exists(path))\n"
    )

    assert result.status == "passed", result.output
    assert "server-secret" not in result.output
    assert "OPENAI_API_KEY" not in result.output and "SECRET_KEY" not in result.output
    assert "True" not in result.output  # none of the server's files exist in the sandbox


async def test_unbounded_forking_is_contained() -> None:
    before = len(os.listdir("/proc"))
    result = await run(
        "import os, time\n"
        "children = 0\n"
        "try:\n"
        "    while True:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(60)\n"
        "            os._exit(0)\n"
        "        children += 1\n"
        "except OSError as exc:\n"
        "    print('fork refused after', children, exc.strerror)\n"
        "    raise SystemExit(1)\n",
    )

    assert result.status == "failed", result.output
    assert "fork refused after" in result.output
    children = int(result.output.split("fork refused after ")[1].split()[0])
    assert children < SHORT.max_processes
    await asyncio.sleep(0.5)
    assert len(os.listdir("/proc")) < before + 10  # every child is gone with the sandbox


async def test_two_gigabytes_are_refused() -> None:
    result = await run("block = bytearray(2 * 1024**3)\nprint('allocated')")

    assert result.status == "failed"
    assert "MemoryError" in result.output and "allocated" not in result.output


async def test_endless_loop_times_out_without_blocking_the_server() -> None:
    ticks: list[float] = []

    async def ticker() -> None:
        for _ in range(10):
            started = time.monotonic()
            await asyncio.sleep(0.05)
            ticks.append(time.monotonic() - started)

    result, _ = await asyncio.gather(
        run("while True:\n    pass\n", SandboxLimits(wall_seconds=1.5)), ticker()
    )

    assert result.status == "timeout"
    assert 1.5 <= result.duration < 5
    assert "time limit: stopped after 1.5 s" in result.output
    assert max(ticks) < 0.5  # the event loop kept serving


async def test_gigabytes_of_output_are_cut_off() -> None:
    result = await run("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n")

    assert result.status == "error"
    assert "output limit" in result.output
    assert len(result.output) < 2 * SHORT.max_output_bytes
    assert result.duration < 3


async def test_refuses_to_run_without_bubblewrap(monkeypatch, settings) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")

    with pytest.raises(SandboxUnavailable, match="install the Debian package bubblewrap"):
        await run("print('never')")


async def test_weaker_mode_must_be_chosen_and_is_shown_on_results(settings) -> None:
    settings.TEST_SANDBOX = sandbox.UNSAFE

    result = await run("import os\nprint(sorted(os.environ))")

    assert result.status == "passed"
    assert result.isolation == "none (TEST_SANDBOX=unsafe-subprocess)"
    assert "[isolation: none (TEST_SANDBOX=unsafe-subprocess)]" in result.output
    assert "OPENAI_API_KEY" not in result.output
