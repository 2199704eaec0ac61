"""Each layer imports only what its ``__init__`` docstring allows (style.md's layering, checked on the source)."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "codeyard"

ALLOWED: dict[str, set[str]] = {
    "domain": set(),
    "storage": {"errors", "config", "domain"},
    "services": {"storage", "domain", "errors", "config"},
    "sandbox": {"errors"},
    "agent": {"sandbox", "errors"},
    "runner": {
        "services",
        "agent",
        "sandbox",
        "handoff",
        "domain",
        "config",
        "errors",
        "storage.tables",
        "storage.blobs",
        "storage.checkpoints",
    },
    "scheduler": {"services", "domain", "config", "errors"},
    "worker": {"runner", "services", "domain", "config", "errors"},
    "api": {"services", "domain", "config", "errors", "storage.tables", "storage.db"},
    "sdk": set(),
    "handoff": {"sdk"},
    "config": set(),
    "errors": set(),
    "logs": set(),
    "webhooks": {"services", "domain", "config", "errors"},
}


def _imports(path: Path) -> set[str]:
    """The ``codeyard`` modules a file imports, as ``layer`` or ``layer.module`` below ``codeyard``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        found |= {name.removeprefix("codeyard.") for name in names if name.startswith("codeyard.")}
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_what_it_may(layer: str) -> None:
    files = [SRC / f"{layer}.py"] if (SRC / f"{layer}.py").exists() else sorted((SRC / layer).rglob("*.py"))
    assert files, f"no source for layer {layer}"
    wrong = []
    for path in files:
        for target in _imports(path):
            top = target.split(".")[0]
            if top == layer:
                continue
            if top not in ALLOWED[layer] and ".".join(target.split(".")[:2]) not in ALLOWED[layer]:
                wrong.append(f"{path.relative_to(SRC)} imports codeyard.{target}")
    assert not wrong, "\n".join(wrong)
