"""deploy/: the systemd unit, the container build and the Kubernetes manifests.

No init system, Docker engine or cluster runs here, so each is checked as far as it can be:
systemd-analyze verify, the Dockerfile's build steps run as the script they are, and the
manifests' structure, with their configs parsed by the daemon's own loader.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import PurePosixPath

import pytest
import yaml
from conftest import BIN, REPO

from chronotick_engine.config import load_config, parse_config

DEPLOY = REPO / "deploy"


def test_shipped_production_config_is_valid():
    cfg = load_config(DEPLOY / "config" / "chronotick.yaml")
    assert cfg.daemon.shm_path == "/run/chronotick/chronotick_shm"
    assert cfg.daemon.metrics_address == "127.0.0.1"


# ------------------------------------------------------------------------------------------- systemd


def unit_settings(text: str) -> dict[str, str]:
    return dict(
        line.split("=", 1) for line in text.splitlines() if "=" in line and not line.lstrip().startswith("#")
    )


def test_systemd_unit_shape():
    unit = unit_settings((DEPLOY / "systemd" / "chronotick-daemon.service").read_text())
    assert unit["User"] == "chronotick" and unit["User"] != "root"
    assert unit["Restart"] == "always"
    assert unit["RuntimeDirectory"] == "chronotick" and unit["RuntimeDirectoryPreserve"] == "yes"
    assert "--shm-path /run/chronotick/" in unit["ExecStart"]
    assert "--allow-root" not in unit["ExecStart"]
    assert unit["MemoryMax"] and unit["CPUQuota"] and unit["NoNewPrivileges"] == "yes"
    assert "u chronotick" in (DEPLOY / "systemd" / "chronotick.sysusers.conf").read_text()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify(tmp_path):
    text = (DEPLOY / "systemd" / "chronotick-daemon.service").read_text()
    # verify checks that ExecStart exists: point it at this checkout's installed daemon.
    unit = tmp_path / "chronotick-daemon.service"
    unit.write_text(text.replace("/opt/chronotick/bin/chronotick-daemon", str(BIN / "chronotick-daemon")))
    r = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    complaints = [
        line
        for line in (r.stdout + r.stderr).splitlines()
        if str(unit) in line or re.search(r"unknown|invalid|failed|bad", line, re.I)
    ]
    assert r.returncode == 0 and not complaints, r.stdout + r.stderr


# -------------------------------------------------------------------------------------------- docker


def test_dockerfile_runs_the_install_script_as_its_build_step():
    text = (DEPLOY / "docker" / "Dockerfile").read_text().replace("\\\n", " ")  # join continued lines
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    instructions = [ln.split()[0] for ln in lines if not ln.startswith("#") and ln.split()[0].isupper()]
    assert instructions[0] == "FROM"
    runs = [ln for ln in lines if ln.startswith("RUN")]
    assert len(runs) == 1 and "deploy/docker/install.sh" in runs[0]
    users = [ln.split()[1] for ln in lines if ln.startswith("USER")]
    assert users == ["chronotick"]  # never root at run time
    assert any(ln.startswith("STOPSIGNAL SIGTERM") for ln in lines)


@pytest.mark.slow
def test_docker_build_steps_as_a_script(tmp_path):
    """The Dockerfile's RUN step, run here: a fresh venv with the package from this repository."""
    prefix = tmp_path / "opt-chronotick"
    env = {
        **os.environ,
        "CHRONOTICK_SRC": str(REPO),
        "CHRONOTICK_PREFIX": str(prefix),
        "CHRONOTICK_EXTRAS": "metrics",
        "CHRONOTICK_USER": "",  # creating system users is the image's business, not CI's
    }
    r = subprocess.run(
        ["sh", str(DEPLOY / "docker" / "install.sh")], env=env, capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 0, r.stderr[-2000:]
    check = subprocess.run(
        [
            str(prefix / "bin" / "chronotick-daemon"),
            "--check-config",
            "--config",
            str(DEPLOY / "config" / "chronotick.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0 and "config OK" in check.stdout, check.stderr
    assert (prefix / "bin" / "chronotick-client").exists()
    assert not (prefix / "lib" / "python3.11" / "site-packages" / "torch").exists()  # lean base


def test_compose_shares_the_segment_directory_read_only_with_clients():
    compose = yaml.safe_load((DEPLOY / "docker" / "compose.yaml").read_text())
    daemon, client = compose["services"]["chronotick"], compose["services"]["client"]
    assert daemon["restart"] == "always"
    assert "chronotick-run:/run/chronotick" in daemon["volumes"]
    assert "chronotick-run:/run/chronotick:ro" in client["volumes"]
    assert client["environment"]["CHRONOTICK_SHM_PATH"] == "/run/chronotick/chronotick_shm"
    assert compose["volumes"]["chronotick-run"]["driver_opts"]["type"] == "tmpfs"


# ---------------------------------------------------------------------------------------- kubernetes


def k8s_objects() -> dict[str, dict]:
    objs = {}
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            assert {"apiVersion", "kind", "metadata"} <= doc.keys(), path
            objs[doc["kind"]] = doc
    return objs


def test_k8s_is_a_daemonset_with_hostpath_segment_and_configmap():
    objs = k8s_objects()
    assert "DaemonSet" in objs and "StatefulSet" not in objs
    ds = objs["DaemonSet"]
    spec = ds["spec"]["template"]["spec"]
    assert (
        ds["spec"]["selector"]["matchLabels"].items() <= ds["spec"]["template"]["metadata"]["labels"].items()
    )
    assert spec["securityContext"]["runAsNonRoot"] is True
    volumes = {v["name"]: v for v in spec["volumes"]}
    [daemon] = spec["containers"]
    mounts = {m["name"]: m["mountPath"] for m in daemon["volumeMounts"]}
    assert set(mounts) <= set(volumes)
    segment_dir = mounts["segment"]
    assert volumes["segment"]["hostPath"]["path"] == segment_dir
    assert volumes["config"]["configMap"]["name"] == objs["ConfigMap"]["metadata"]["name"]
    shm = daemon["args"][daemon["args"].index("--shm-path") + 1]
    assert PurePosixPath(shm).parent == PurePosixPath(segment_dir)
    assert "--allow-root" not in daemon["args"]
    cfg = parse_config(yaml.safe_load(objs["ConfigMap"]["data"]["config.yaml"]), "configmap")
    assert cfg.daemon.shm_path == shm
    assert mounts["config"] == "/etc/chronotick"  # where the image's ENTRYPOINT reads config.yaml


def test_k8s_client_pod_mounts_the_node_segment_read_only():
    objs = k8s_objects()
    pod = objs["Pod"]["spec"]
    [app] = pod["containers"]
    [mount] = app["volumeMounts"]
    assert mount["readOnly"] is True
    [vol] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    ds_spec = objs["DaemonSet"]["spec"]["template"]["spec"]
    ds_host = {v["name"]: v for v in ds_spec["volumes"]}["segment"]["hostPath"]["path"]
    assert vol["hostPath"]["path"] == ds_host
    env = {e["name"]: e["value"] for e in app["env"]}
    assert PurePosixPath(env["CHRONOTICK_SHM_PATH"]).parent == PurePosixPath(mount["mountPath"])


# ------------------------------------------------------------------------------------- MCP over HTTP


def test_http_mcp_unit_takes_its_token_as_a_credential():
    unit = unit_settings((DEPLOY / "systemd" / "chronotick-mcp-http.service").read_text())
    assert unit["LoadCredential"] == "mcp-token:/etc/chronotick/mcp-token"
    assert "--token-file ${CREDENTIALS_DIRECTORY}/mcp-token" in unit["ExecStart"]
    assert "chronotick-http-server" in unit["ExecStart"] and "--allow-root" not in unit["ExecStart"]
    assert unit["ReadOnlyPaths"] == "/run/chronotick" and unit["NoNewPrivileges"] == "yes"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_http_mcp_unit_verifies(tmp_path):
    text = (DEPLOY / "systemd" / "chronotick-mcp-http.service").read_text()
    unit = tmp_path / "chronotick-mcp-http.service"
    unit.write_text(
        text.replace("/opt/chronotick/bin/chronotick-http-server", str(BIN / "chronotick-http-server"))
    )
    r = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    complaints = [
        line for line in (r.stdout + r.stderr).splitlines() if re.search(r"unknown|invalid|bad", line, re.I)
    ]
    assert r.returncode == 0 and not complaints, r.stdout + r.stderr


def test_k8s_http_mcp_reads_the_segment_read_only_and_the_token_from_a_secret():
    docs = list(yaml.safe_load_all((DEPLOY / "k8s" / "mcp-http" / "daemonset.yaml").read_text()))
    objs = {d["kind"]: d for d in docs}
    spec = objs["DaemonSet"]["spec"]["template"]["spec"]
    [server] = spec["containers"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["name"]: m for m in server["volumeMounts"]}
    assert mounts["segment"]["readOnly"] is True and mounts["token"]["readOnly"] is True
    ds_host = {v["name"]: v for v in k8s_objects()["DaemonSet"]["spec"]["template"]["spec"]["volumes"]}[
        "segment"
    ]
    assert volumes["segment"]["hostPath"]["path"] == ds_host["hostPath"]["path"]
    assert volumes["token"]["secret"]["secretName"] == "chronotick-mcp-token"
    args = server["args"]
    token_file = PurePosixPath(args[args.index("--token-file") + 1])
    assert token_file.parent == PurePosixPath(mounts["token"]["mountPath"])
    assert (
        not server.get("env") and "Bearer" not in (DEPLOY / "k8s" / "mcp-http" / "daemonset.yaml").read_text()
    )
    assert objs["Service"]["spec"]["internalTrafficPolicy"] == "Local"
    assert objs["Service"]["spec"]["selector"] == objs["DaemonSet"]["spec"]["selector"]["matchLabels"]


def test_k8s_probe_is_a_command_line_the_client_accepts():
    """The probe runs `chronotick-client` itself: its arguments must parse (a usage error is 2)."""
    daemon = k8s_objects()["DaemonSet"]["spec"]["template"]["spec"]["containers"][0]
    assert "livenessProbe" not in daemon  # restarting a FREE_RUNNING daemon only loses its model
    cmd = daemon["readinessProbe"]["exec"]["command"]
    out = subprocess.run([str(BIN / cmd[0]), *cmd[1:]], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and "no ChronoTick segment" in out.stderr, out.stderr  # parsed, no daemon here
