"""The folder tree is the architecture: the packages import each other in one direction only, and no module
reaches a package above its layer (imports inside functions count too)."""

from __future__ import annotations

import ast

from helpers import REPO

# lowest first: a package may import only packages listed before it
LAYERS = ["results", "datasets", "runtime", "methods", "protocols", "experiment", "slurm", "pipeline"]
ENTRY_POINTS = {"protocols/run.py"}  # the command users run sits on top of everything it starts


def imports_of(package: str) -> dict[str, set[str]]:
    """``{module path: first-party packages it imports}`` for every module of ``package``."""
    out = {}
    for path in sorted((REPO / package).rglob("*.py")):
        found = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            found |= {n.split(".")[0] for n in names if n.split(".")[0] in LAYERS}
        out[str(path.relative_to(REPO))] = found - {package}
    return out


def test_packages_import_only_lower_layers():
    wrong = []
    for i, package in enumerate(LAYERS):
        allowed = set(LAYERS[:i])
        for module, deps in imports_of(package).items():
            if module in ENTRY_POINTS:
                continue
            wrong += [f"{module} imports {d}" for d in sorted(deps - allowed)]
    assert not wrong, "imports against the layering " + " < ".join(LAYERS) + ":\n" + "\n".join(wrong)


def test_results_do_not_import_the_protocols():
    assert not any("protocols" in deps or "experiment" in deps for deps in imports_of("results").values())


def test_every_package_is_layered():
    packages = {p.parent.name for p in REPO.glob("*/__init__.py")} - {"tests", "benchmarks"}
    assert packages == set(LAYERS), f"add new packages to LAYERS: {packages ^ set(LAYERS)}"
