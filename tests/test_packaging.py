"""The wheel, installed into a fresh venv with no source tree beside it, runs every command.

This catches package data left out of the wheel and imports that only work from a checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = [
    "chronotick-client",
    "chronotick-daemon",
    "chronotick-eval",
    "chronotick-stdio-server",
    "chronotick-http-server",
]

pytestmark = pytest.mark.slow


def _run(cmd: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def clean_source(dest: Path) -> Path:
    """The checkout's files as git sees them (tracked, or new and not ignored), without the build
    artefacts a working tree collects (build/, an in-place extension)."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, files):
        src = REPO / name.decode()
        if src.is_file():
            (dest / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name.decode())
    return dest


def build_wheel(source: Path, dist: Path, env: dict[str, str] | None = None) -> Path:
    """pip's wheel of `source` (no dependencies) in `dist`."""
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "--disable-pip-version-check"]
        + ["-w", str(dist), str(source)],
        cwd=dist.parent,
        env=env or {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = dist.glob("chronotick-*.whl")
    return wheel


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    return clean_source(tmp_path_factory.mktemp("source"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory, source) -> Path:
    """bin/ of a fresh venv holding only the wheel and its base dependencies."""
    root = tmp_path_factory.mktemp("wheel")
    dist = root / "dist"
    wheel = build_wheel(source, dist)
    env_dir = root / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    install = _run(
        [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)], cwd=root
    )
    assert install.returncode == 0, install.stderr
    return env_dir / "bin"


def test_the_package_is_imported_from_the_venv_not_the_checkout(installed):
    out = _run(
        [str(installed / "python"), "-c", "import chronotick_engine; print(chronotick_engine.__file__)"],
        cwd=installed,
    )
    assert out.returncode == 0, out.stderr
    assert "site-packages" in out.stdout and str(REPO) not in out.stdout


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_console_script_answers_help(installed, script):
    out = _run([str(installed / script), "--help"], cwd=installed, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "usage:" in out.stdout and "Traceback" not in out.stderr


@pytest.mark.parametrize("script", ["chronotick-stdio-server", "chronotick-http-server"])
def test_mcp_servers_without_the_mcp_extra_say_which_extra(installed, script):
    out = _run([str(installed / script)], cwd=installed, timeout=60)
    assert out.returncode == 2 and "chronotick[mcp]" in out.stderr, out.stderr
    assert out.stderr.count("\n") == 1


def test_default_config_ships_and_checks(installed, tmp_path):
    printed = _run([str(installed / "chronotick-daemon"), "--print-default-config"], cwd=tmp_path, timeout=60)
    assert printed.returncode == 0 and "clock_measurement" in printed.stdout, printed.stderr
    shipped = tmp_path / "shipped.yaml"
    shipped.write_text(printed.stdout)
    for args in ([], ["--config", str(shipped)]):
        check = _run(
            [str(installed / "chronotick-daemon"), *args, "--check-config"], cwd=tmp_path, timeout=60
        )
        assert check.returncode == 0 and check.stdout.rstrip().endswith("config OK"), check.stderr


def test_replay_of_a_simulated_trace(installed, tmp_path):
    trace = tmp_path / "step.csv"
    sim = _run(
        [str(installed / "chronotick-eval"), "simulate", "clock-step", "--out", str(trace)], cwd=tmp_path
    )
    assert sim.returncode == 0, sim.stderr
    out = _run([str(installed / "chronotick-eval"), "replay", str(trace), "--json"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["estimators"]["chronotick"]["coverage"] >= 0.95


def test_the_wheel_carries_the_fast_path(installed):
    code = "from chronotick_engine import client; print(client.native_available())"
    out = _run([str(installed / "python"), "-c", code], cwd=installed)
    assert out.returncode == 0 and out.stdout.strip() == "True", out.stderr


def test_without_a_compiler_the_extension_is_skipped_and_the_rest_works(installed, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("nocc")
    source = clean_source(tmp_path_factory.mktemp("nocc-source"))
    dist = tmp_path / "dist"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["CC"] = "/bin/false"  # a compiler that always fails, as a machine without one does
    wheel = build_wheel(source, dist, env)
    target = tmp_path / "site"
    unpack = _run(
        [
            str(installed / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        cwd=tmp_path,
    )
    assert unpack.returncode == 0, unpack.stderr
    assert not list(target.glob("chronotick_engine/_native*"))
    code = "from chronotick_engine import client; assert not client.native_available(); print(client.ChronoTickClient().status().name)"
    out = subprocess.run(
        [str(installed / "python"), "-c", code],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(target), "CHRONOTICK_SHM_PATH": str(tmp_path / "none")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and out.stdout.strip() == "UNKNOWN", out.stderr


@pytest.fixture(scope="module")
def tool_install(tmp_path_factory, source) -> Path:
    """bin/ of the README's one-line install: the wheel with its mcp extra in a venv of its own (what
    `pipx install WHEEL[mcp]` makes), nothing of the checkout on its path."""
    root = tmp_path_factory.mktemp("tool")
    wheel = build_wheel(source, root / "dist")
    env_dir = root / "venv"
    venv.create(env_dir, with_pip=True)
    install = _run(
        [str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        + [f"{wheel}[mcp]"],
        cwd=root,
    )
    assert install.returncode == 0, install.stderr
    return env_dir / "bin"


@pytest.mark.integration
async def test_one_line_install_serves_nts_time_with_no_daemon(tool_install, tmp_path, pki, nts_chrony):
    """The wheel's stdio server, no source tree, no daemon: the first get_time is SYNCHRONIZED with
    every server NTS-authenticated (a config naming a loopback chronyd under the test CA)."""
    from daemonproc import nts_entry, write_config
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    config = write_config(tmp_path, [nts_entry(nts_chrony.nts_port, pki[0])])
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    params = StdioServerParameters(
        command=str(tool_install / "chronotick-stdio-server"),
        args=["--config", str(config), "--shm-path", str(tmp_path / "no-daemon")],
        env=env,
        cwd=str(tmp_path),
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        r = (await session.call_tool("get_time", {})).structured_content
        s = (await session.call_tool("get_daemon_status", {})).structured_content
    assert r["status"] == "SYNCHRONIZED" and r["engine"] == "embedded", r
    assert s["servers"] and all(srv["authenticated"] for srv in s["servers"]), s["servers"]
    where = _run(
        [str(tool_install / "python"), "-c", "import chronotick_mcp; print(chronotick_mcp.__file__)"],
        tmp_path,
    )
    assert "site-packages" in where.stdout and str(REPO) not in where.stdout
