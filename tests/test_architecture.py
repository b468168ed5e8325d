"""The house's rules, checked on the import statements themselves (function-level imports too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# room -> rooms it must never import. A room is a module path relative to the repository root,
# matched by prefix: "chronotick_engine.model" covers every module of the model package.
FORBIDDEN = {
    "chronotick_engine.protocol": [
        "chronotick_engine.embedded",
        "chronotick_engine.measure",
        "chronotick_engine.model",
        "chronotick_engine.daemon",
        "chronotick_engine.client",
        "chronotick_engine.config",
        "chronotick_engine.cli",
        "chronotick_engine.eval",
    ],
    "chronotick_engine.measure": [
        "chronotick_engine.embedded",
        "chronotick_engine.model",
        "chronotick_engine.daemon",
        "chronotick_engine.protocol",
        "chronotick_engine.client",
        "chronotick_engine.cli",
        "chronotick_engine.eval",
    ],
    "chronotick_engine.model": [
        "chronotick_engine.embedded",
        "chronotick_engine.measure.ntp",
        "chronotick_engine.measure.selection",
        "chronotick_engine.protocol",
        "chronotick_engine.daemon",
        "chronotick_engine.client",
        "chronotick_engine.cli",
        "chronotick_engine.eval",
    ],
    "chronotick_engine.daemon": [
        "chronotick_engine.embedded",
        "chronotick_engine.client",
        "chronotick_engine.cli",
        "chronotick_engine.eval",
    ],
    "chronotick_engine.client": [
        "chronotick_engine.embedded",
        "chronotick_engine.measure",
        "chronotick_engine.model",
        "chronotick_engine.daemon",
        "chronotick_engine.config",
        "chronotick_engine.cli",
        "chronotick_engine.eval",
    ],
    "chronotick_engine.eval": [
        "chronotick_engine.embedded",
        "chronotick_engine.daemon",
        "chronotick_engine.protocol",
        "chronotick_engine.client",
        "chronotick_engine.cli",
    ],
    "chronotick_engine.config": [
        "chronotick_engine.protocol.codec",
        "chronotick_engine.protocol.writer",
        "chronotick_engine.embedded",
    ],
    "chronotick_mcp": [
        "chronotick_engine.measure",
        "chronotick_engine.model",
        "chronotick_engine.daemon",
        "chronotick_engine.config",
        "chronotick_engine.cli.client",
        "chronotick_engine.cli.daemon",
        "chronotick_engine.cli.eval",
        "chronotick_engine.cli.demo",
        "chronotick_engine.eval",
        "chronotick_engine.testing",
    ],
}
ONLY_FROM = {"chronotick_engine.testing": ["chronotick_engine.cli.demo", "chronotick_engine.testing"]}


def _modules() -> dict[str, Path]:
    found = {}
    for package in ("chronotick_engine", "chronotick_mcp", "chronotick_shm"):
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return {n for n in names if n.startswith(("chronotick_engine", "chronotick_mcp"))}


def _within(name: str, room: str) -> bool:
    return name == room or name.startswith(room + ".")


MODULES = _modules()


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_the_right_way(module):
    bad = []
    for name in _imports(MODULES[module]):
        for room, forbidden in FORBIDDEN.items():
            if _within(module, room):
                bad += [
                    f"{name} (a {room} module must not import {f})" for f in forbidden if _within(name, f)
                ]
        for room, allowed in ONLY_FROM.items():
            if _within(name, room) and not any(_within(module, a) for a in allowed):
                bad.append(f"{name} (only {', '.join(allowed)} may import {room})")
        if module.startswith("chronotick_engine") and _within(name, "chronotick_mcp"):
            bad.append(f"{name} (the engine knows nothing of MCP)")
    assert not bad, f"{module} imports " + "; ".join(sorted(set(bad)))


def test_the_embedded_engine_is_composed_above_the_daemon_and_the_client():
    """It imports both (the daemon lazily); neither, nor anything below them, imports it."""
    engine = _imports(MODULES["chronotick_engine.embedded.engine"])
    assert {"chronotick_engine.client", "chronotick_engine.daemon"} <= engine
    users = {
        m
        for m, path in MODULES.items()
        if any(_within(n, "chronotick_engine.embedded") for n in _imports(path))
    }
    assert users and all(
        not _within(m, r) for m in users for r in ("chronotick_engine.client", "chronotick_engine.daemon")
    )


def test_the_rules_can_fail():
    assert _imports(MODULES["chronotick_engine.daemon.daemon"]) & {"chronotick_engine.model.classical"}
    assert any(_within(m, "chronotick_engine.protocol") for m in MODULES)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_a_hall(module):
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= 450, f"{module} has {lines} lines; split it along its seams"
