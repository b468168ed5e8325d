"""The deployment guide (../shared/DEPLOYMENT_GUIDE.md) runs as written against our packages.

Its code is read from the guide itself, not copied here, and run against a real daemon on loopback
chronyd that uses the guide's own Step 2 config. Only what the guide leaves to the user is defined
here: `execute_synchronized_action`, and which NTP server to reach (the guide's public servers are
out of reach in this sandbox, so `--server` points the daemon at loopback).
"""

from __future__ import annotations

import ast
import io
import json
import os
import re
import subprocess
import sys
import time
import uuid
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from conftest import REPO
from daemonproc import BIN, ROOT_ARGS

from chronotick_engine import ChronoTickClient
from chronotick_engine.config import load_config
from chronotick_engine.protocol import detail_path, lock_path

GUIDE = REPO.parent / "shared" / "DEPLOYMENT_GUIDE.md"
if not GUIDE.exists():
    pytest.skip(f"{GUIDE} is absent: the guide's snippets cannot be run", allow_module_level=True)

BLOCKS = re.findall(r"```(\w*)\n(.*?)```", GUIDE.read_text(), re.S)


def block(lang: str, *needles: str) -> str:
    """The guide's one code block in `lang` that contains every needle."""
    found = [body for kind, body in BLOCKS if kind == lang and all(n in body for n in needles)]
    assert len(found) == 1, f"the guide has {len(found)} {lang} blocks with {needles}"
    return found[0]


def shell_lines(prefix: str) -> list[str]:
    """Every command line of the guide's bash blocks that starts with `prefix`, comments cut."""
    lines = []
    for kind, body in BLOCKS:
        if kind == "bash":
            lines += [ln.split("#")[0].strip() for ln in body.splitlines() if ln.strip().startswith(prefix)]
    return lines


def unlink_segment(path: str) -> None:
    for p in (path, lock_path(path), detail_path(path)):
        Path(p).unlink(missing_ok=True)


@pytest.fixture(scope="module")
def guide_config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("guide") / "config.yaml"
    path.write_text(block("yaml", "clock_measurement:", "short_term:"))
    return path


@pytest.fixture(scope="module")
def guide_daemon(chrony, guide_config):
    """`chronotick-daemon --config config.yaml` with the guide's Step 2 YAML, on a private segment."""
    path = f"/dev/shm/chronotick_guide_{uuid.uuid4().hex[:8]}"
    # The guide enables both TimesFM models; no weights can be fetched here, so the daemon must say
    # so in one line and carry on classical-only.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CHRONOTICK_SHM_PATH": path}
    proc = subprocess.Popen(
        [str(BIN / "chronotick-daemon"), "--config", str(guide_config), "--server", chrony.address]
        + ["--shm-path", path, *ROOT_ARGS],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert ChronoTickClient(path).wait_for_sync(30), "the guide's config did not synchronise"
        yield path
    finally:
        proc.terminate()
        proc.wait(15)
        unlink_segment(path)


@pytest.fixture
def on_guide_segment(guide_daemon, monkeypatch):
    monkeypatch.setenv("CHRONOTICK_SHM_PATH", guide_daemon)
    return guide_daemon


def run_snippet(code: str, namespace: dict | None = None) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        exec(compile(code, str(GUIDE), "exec"), namespace if namespace is not None else {})
    return out.getvalue()


def test_step2_config_is_accepted_as_written(guide_config):
    cfg = load_config(guide_config)
    assert cfg.clock_measurement.ntp.servers == ["pool.ntp.org", "time.google.com", "time.nist.gov"]
    assert cfg.short_term.enabled and cfg.long_term.enabled
    check = subprocess.run(
        [str(BIN / "chronotick-daemon"), "--config", str(guide_config), "--check-config"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0 and check.stdout.rstrip().endswith("config OK"), check.stderr


def test_option_a_application_runs_as_written(on_guide_segment):
    actions: list[float] = []

    def execute_synchronized_action() -> None:
        actions.append(ChronoTickClient(on_guide_segment).get_time().corrected_timestamp)

    code = block("python", "from chronotick_shm import ChronoTickClient", "wait_until")
    started = time.monotonic()
    printed = run_snippet(
        code, {"__name__": "__main__", "execute_synchronized_action": execute_synchronized_action}
    )
    corrected = re.search(r"Corrected time: ([0-9.]+)", printed)
    uncertainty = re.search(r"Uncertainty: ±([0-9.]+)ms", printed)
    assert corrected and uncertainty, printed
    assert abs(float(corrected.group(1)) - time.time()) < 60 and 0 < float(uncertainty.group(1)) < 100
    # It returned after wait_until: the action ran no earlier than the guide's target, 10 s on.
    assert actions and actions[0] >= float(corrected.group(1)) + 10.0
    assert time.monotonic() - started < 15


async def test_option_b_agent_builds_a_server_that_answers(on_guide_segment):
    pytest.importorskip("claude_agent_sdk")
    from mcp import Client as McpClient

    code = block("python", "create_sdk_mcp_server", "chronotick_shm.chronotick_sdk_mcp")
    before_client = code[: code.index("agent = ClaudeSDKClient(")]  # that call needs an API key
    namespace: dict = {}
    run_snippet(before_client, namespace)
    server = namespace["sdk_server"]
    assert server["type"] == "sdk" and server["name"] == "chronotick_server"
    async with McpClient(server["instance"]) as session:
        result = await session.call_tool("get_time", {})
    assert not result.is_error, result.content
    reading = json.loads(result.content[0].text)
    assert reading["status"] == "SYNCHRONIZED" and reading["earliest"] <= reading["latest"]


def test_health_check_and_troubleshooting_snippets_run_as_written(on_guide_segment):
    namespace: dict = {}
    printed = run_snippet(block("python", "get_daemon_info()", "Status:"), namespace)
    printed += run_snippet(block("python", "Avg latency"), namespace)
    printed += run_snippet(block("python", "Last sync"), namespace)
    assert "Status: SYNCHRONIZED" in printed and "NTP ready: True" in printed, printed
    assert re.search(r"Uptime: \d+\.\ds", printed) and re.search(r"Measurements: \d+", printed)
    assert re.search(r"Avg latency: [0-9.]+ms", printed) and re.search(r"Last sync: [0-9.]+s ago", printed)


def test_client_status_command(on_guide_segment):
    [cmd] = {c for c in shell_lines("chronotick-client")}
    out = subprocess.run(
        [str(BIN / cmd.split()[0]), *cmd.split()[1:]], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0 and "SYNCHRONIZED" in out.stdout, out.stdout + out.stderr
    assert os.stat(on_guide_segment).st_size == 128  # the guide's `ls -lh`: a 128-byte segment


def daemon_from_guide(cmd: str, chrony, tmp_path: Path) -> tuple[subprocess.Popen, str]:
    """One of the guide's daemon command lines, pointed at loopback chronyd on a private segment."""
    path = f"/dev/shm/chronotick_guide_{uuid.uuid4().hex[:8]}"
    config = tmp_path / f"{uuid.uuid4().hex[:6]}.yaml"
    config.write_text(f"clock_measurement:\n  ntp:\n    servers: ['{chrony.address}']\n")
    args = cmd.split()[1:]
    if "--config" not in args:
        args += ["--config", str(config)]
    else:
        args[args.index("--config") + 1] = str(config)
    proc = subprocess.Popen(
        [str(BIN / "chronotick-daemon"), *args, "--shm-path", path, *ROOT_ARGS],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, path


@pytest.mark.parametrize("cmd", sorted(set(shell_lines("chronotick-daemon"))))
def test_daemon_command_lines_have_our_meaning(cmd, chrony, tmp_path):
    proc, path = daemon_from_guide(cmd, chrony, tmp_path)
    try:
        client = ChronoTickClient(path)
        assert client.wait_for_sync(20), proc.stderr.read() if proc.poll() is not None else cmd
        time.sleep(2)  # long enough for the measured publish rate to settle
        info = client.get_daemon_info()
        args = cmd.split()
        if "--freq" in args:
            hz = float(args[args.index("--freq") + 1])
            assert 0.7 * hz <= info.publish_rate_hz <= 1.3 * hz, (cmd, info.publish_rate_hz)
        if "--cpu-affinity" in args:
            cpus = {int(c) for c in args[args.index("--cpu-affinity") + 1 :]}
            assert os.sched_getaffinity(proc.pid) == cpus & os.sched_getaffinity(0)
        assert info.running and info.status == "SYNCHRONIZED"
    finally:
        proc.terminate()
        assert proc.wait(15) == 0
        unlink_segment(path)


def test_the_compatibility_package_holds_no_logic():
    """chronotick_shm only re-exports: a definition there would be a second copy of the product."""
    allowed = (ast.Import, ast.ImportFrom, ast.Expr)
    for path in (REPO / "chronotick_shm").glob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Try):  # the import guarded for a missing extra
                assert all(isinstance(n, ast.ImportFrom) for n in node.body), path
                continue
            assert isinstance(node, allowed), f"{path.name}:{node.lineno} defines something"
    import chronotick_shm
    from chronotick_engine import ChronoTickClient as engine_client
    from chronotick_mcp import sdk
    from chronotick_shm import chronotick_sdk_mcp

    assert chronotick_shm.ChronoTickClient is engine_client
    assert {t.name for t in sdk.ALL_TOOLS} <= set(dir(chronotick_sdk_mcp))
    assert chronotick_sdk_mcp.get_time is sdk.get_time


def test_sdk_module_without_the_extra_names_it_in_one_line():
    code = (
        "import sys; sys.modules['claude_agent_sdk'] = None\n"
        "try:\n    import chronotick_shm.chronotick_sdk_mcp\n"
        "except ModuleNotFoundError as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.count("\n") == 1, out
    assert "pip install 'chronotick[sdk]'" in out.stdout
