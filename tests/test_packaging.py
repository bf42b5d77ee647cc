"""What pyproject.toml declares is what the code needs: every third-party module imported under a package is a
dependency of the extras that package is installed with (AREAS), the main command imports nothing at module level
beyond the plain dependencies (`make demo` installs only those), and every declared requirement is imported or run
somewhere. The installed checkout is importable without any path set up (the entry points have no sys.path lines)."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tomllib
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

from helpers import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
OURS = ("datasets", "experiment", "methods", "pipeline", "protocols", "results", "runtime", "slurm")
# the extras each part of the tree is installed with (the plain dependencies always); make test installs them all
AREAS = {
    "datasets": (),
    "methods": (),
    "runtime": (),
    "experiment": (),
    "slurm": (),
    "protocols": ("svm",),
    "results": ("pipeline",),
    "pipeline": ("pipeline",),
    "benchmarks": ("bench", "pipeline"),  # dataset_properties.py: results/'s statistics
    "tests": ("pipeline", "svm", "test", "bench"),
}
MAIN_COMMAND = ("protocols", "runtime", "experiment", "methods", "datasets", "slurm")  # python protocols/run.py
# requirements nothing imports: what runs them
NOT_IMPORTED = {
    "dvc": "the pipeline: dvc.yaml, `dvc repro` (pipeline/, tests/dvc_repo.py run it as a command)",
    "ruff": "the linter, run as a command",
    "pytest-benchmark": "a pytest plugin: the `benchmark` fixture of benchmarks/test_*.py, addopts' --benchmark-skip",
}
# imported where present, declared by no extra
OPTIONAL_BACKENDS = {
    "torchcodec": "datasets/video_io.py: decoder=torchcodec|auto uses it when it is installed and loads (its builds "
    "follow torch's and need system FFmpeg libraries), else PyAV",
}
OPTIONAL_GUARD = ("ImportError", "ModuleNotFoundError")


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(req: str) -> str:
    return norm(re.match(r"[A-Za-z0-9._-]+", req).group(0))


def declared() -> dict[str, set[str]]:
    """{"": plain dependencies, extra: its requirements} as normalised distribution names."""
    project = PYPROJECT["project"]
    out = {"": {requirement_name(r) for r in project["dependencies"]}}
    out |= {extra: {requirement_name(r) for r in reqs} for extra, reqs in project["optional-dependencies"].items()}
    return out


def allowed(area: str) -> set[str]:
    d = declared()
    return d[""].union(*(d[e] for e in AREAS[area]))


def _guarded(node: ast.Try) -> bool:
    names = []
    for h in node.handlers:
        t = h.type
        names += (
            [e.id for e in t.elts if isinstance(e, ast.Name)]
            if isinstance(t, ast.Tuple)
            else [t.id]
            if isinstance(t, ast.Name)
            else []
        )
    return any(n in OPTIONAL_GUARD for n in names)


def imports(path: Path) -> list[tuple[str, int, bool, bool]]:
    """(absolute module, line, at module level, optional) of every import in ``path``. Optional: inside a ``try``
    that catches ImportError (an optional backend, e.g. torchcodec); module level: outside any function."""
    found = []

    def visit(node, top: bool, optional: bool):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            top = False
        if isinstance(node, ast.Try) and _guarded(node):
            for child in node.body:
                visit(child, top, True)
            for child in node.handlers + node.orelse + node.finalbody:
                visit(child, top, optional)
            return
        if isinstance(node, ast.Import):
            found.extend((a.name, node.lineno, top, optional) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module != "__future__":
            found.append((node.module, node.lineno, top, optional))
            found.extend(
                (f"{node.module}.{a.name}", node.lineno, top, optional)
                for a in node.names
                if _module_file(f"{node.module}.{a.name}")
            )  # `from results import records`
        for child in ast.iter_child_nodes(node):
            visit(child, top, optional)

    visit(ast.parse(path.read_text(), str(path)), True, False)
    return found


def local_names(area: str) -> set[str]:
    """Top-level names that are this checkout's, for imports made from ``area``."""
    names = set(OURS) | {"benchmarks"}
    if area == "tests":  # the tests' own modules (helpers, videofiles, sacct_rows, ...; pythonpath and rootdir)
        names |= {p.stem for p in (REPO / "tests").rglob("*.py")}
    return names


@cache
def _module_file(module: str) -> Path | None:
    parts = module.split(".")
    if parts[0] not in OURS + ("benchmarks",):
        return None
    base = REPO.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@cache
def _installed() -> dict[str, list[str]]:
    return packages_distributions()


def distributions(module: str) -> set[str]:
    return {norm(d) for d in _installed().get(module.split(".")[0], ())}


def third_party(area: str) -> list[tuple[str, str, Path, int, bool]]:
    """(top-level module, its distributions, file, line, module level) of the non-optional third-party imports of
    every file under ``area``."""
    ours, out = local_names(area), []
    for path in sorted((REPO / area).rglob("*.py")):
        for module, line, top, optional in imports(path):
            root = module.split(".")[0]
            if optional or root in ours or root in sys.stdlib_module_names or root in OPTIONAL_BACKENDS:
                continue
            out.append((root, distributions(root), path, line, top))
    return out


def test_every_third_party_import_is_declared_for_the_package_that_imports_it():
    problems = []
    for area, extras in AREAS.items():
        ok = allowed(area)
        for root, dists, path, line, _ in third_party(area):
            if not dists:
                problems.append(f"{path.relative_to(REPO)}:{line}: `{root}` is not installed (undeclared)")
            elif not dists & ok:
                problems.append(
                    f"{path.relative_to(REPO)}:{line}: `{root}` ({', '.join(sorted(dists))}) is in "
                    f"neither the dependencies nor the extras {list(extras)} of {area}/"
                )
    assert not problems, "\n".join(problems)


def test_the_main_command_imports_only_the_plain_dependencies_at_module_level():
    """What `make demo` installs suffices for `python protocols/run.py`: the module-level imports of the main
    command's packages and of every module of ours they pull in (results.records, ...) are plain dependencies;
    the rest (pandas for results' tables, scikit-learn for protocol svm) is imported where it is used."""
    plain = declared()[""]
    todo = [p for pkg in MAIN_COMMAND for p in sorted((REPO / pkg).rglob("*.py"))]
    seen, problems = set(todo), []
    while todo:
        path = todo.pop()
        for module, line, top, optional in imports(path):
            if not top:
                continue
            parts, own = module.split("."), _module_file(module)
            if own is not None or parts[0] in OURS:
                deps = [_module_file(".".join(parts[:i])) for i in range(1, len(parts) + 1)]  # parents' __init__
                for dep in filter(None, deps):
                    if dep not in seen:
                        seen.add(dep)
                        todo.append(dep)
            elif parts[0] not in sys.stdlib_module_names and parts[0] not in OPTIONAL_BACKENDS and not optional:
                dists = distributions(parts[0])
                if not dists & plain:
                    problems.append(f"{path.relative_to(REPO)}:{line}: `{parts[0]}` at module level")
    assert not problems, "\n".join(problems)


def test_every_declared_requirement_is_imported_or_run():
    used: dict[str, set[str]] = {}
    for area in AREAS:
        for _, dists, *_ in third_party(area):
            for d in dists:
                used.setdefault(d, set()).add(area)
    stale = []
    for extra, reqs in declared().items():
        areas = {a for a, extras in AREAS.items() if not extra or extra in extras}
        for req in reqs:
            if req not in NOT_IMPORTED and not used.get(req, set()) & areas:
                stale.append(f"{req} ({extra or 'dependencies'}): imported by none of {sorted(areas)}")
    assert not stale, "\n".join(stale)
    assert {norm(k) for k in NOT_IMPORTED} <= set().union(*declared().values())


def test_the_torch_ranges_admit_both_machines():
    from packaging.requirements import Requirement

    reqs = {(r := Requirement(s)).name: r.specifier for s in PYPROJECT["project"]["dependencies"]}
    for torch, vision in (("2.11.0", "0.26.0"), ("2.14.1", "0.29.1")):  # the GPU machine, the CPU machines
        assert torch in reqs["torch"] and vision in reqs["torchvision"]


def test_make_test_installs_every_extra_the_tests_need():
    makefile = (REPO / "Makefile").read_text()
    extras = set(re.search(r"^EXTRAS := (.*)$", makefile, flags=re.MULTILINE).group(1).split(","))
    assert extras >= set(AREAS["tests"]) | set(AREAS["benchmarks"])
    assert "pytest-benchmark" in declared()["test"]  # addopts' --benchmark-skip needs the plugin


def test_the_checkout_imports_without_any_path_set_up(tmp_path):
    """From another folder, with no sys.path line anywhere: the editable install resolves our packages to this
    checkout, and `datasets` is ours, not Hugging Face's PyPI package of that name."""
    code = (
        f"import importlib, json; print(json.dumps({{m: importlib.import_module(m).__file__ for m in {list(OURS)!r}}}))"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    files = json.loads(r.stdout)
    assert {m: Path(f).resolve().parent for m, f in files.items()} == {m: REPO / m for m in OURS}
