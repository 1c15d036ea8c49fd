"""A stage's code dependencies, derived from imports: the project files its entry modules import,
transitively. DVC and Snakemake rerun a stage when one of them changes; a file the stage never
imports is not a dependency, so an edit there reruns nothing.

The walk reads the source (ast), not a running interpreter, so it is the same on every machine:
- module-level imports are followed everywhere (inside `if`/`try` too; `if TYPE_CHECKING:` blocks
  are not, as they never run);
- imports inside functions are followed only in the roots: the stage's own modules and the
  components it runs (a registry imports its components inside the function that picks one, so
  that loading one does not load them all; `lazy_imports` lists every such import, and a test
  keeps them to registries).
Importing `a.b.c` also runs the `__init__.py` of `a` and `a.b`: those are dependencies too.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

PACKAGE = "inoclab"
SRC = Path("src")


@functools.cache  # like imports_of: the tree is read once per process (the stage graph asks ~10^5 times)
def module_file(module: str, src: Path = SRC) -> Path | None:
    """src/inoclab/x/y.py or src/inoclab/x/y/__init__.py for `inoclab.x.y`, else None."""
    base = src.joinpath(*module.split("."))
    for f in (base.with_suffix(".py"), base / "__init__.py"):
        if f.is_file():
            return f
    return None


def module_name(path: Path, src: Path = SRC) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The project modules one import statement loads (`from a import b`: `a.b` when b is a module)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == PACKAGE]
    if node.level:  # relative: resolve against this module's package
        pkg = module.split(".") if is_package else module.split(".")[:-1]
        pkg = pkg[: len(pkg) - node.level + 1]
        base = ".".join(pkg + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    if base.split(".")[0] != PACKAGE:
        return []
    return [base] + [f"{base}.{a.name}" for a in node.names if a.name != "*"]


@functools.cache
def imports_of(path: Path, src: Path = SRC) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(module-level imports, imports inside functions or classes) of a project file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    module, is_package = module_name(path, src), path.name == "__init__.py"
    top: list[str] = []
    inner: list[str] = []

    def visit(nodes, nested: bool) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and _is_type_checking(node):
                visit(node.orelse, nested)
            elif isinstance(node, ast.Import | ast.ImportFrom):
                (inner if nested else top).extend(_imported(node, module, is_package))
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
                visit(ast.iter_child_nodes(node), True)
            else:
                visit(ast.iter_child_nodes(node), nested)

    visit(tree.body, False)
    return tuple(dict.fromkeys(top)), tuple(dict.fromkeys(inner))


def _with_parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def lazy_imports(src: Path = SRC) -> dict[str, list[str]]:
    """Every project file that imports project modules inside a function -> those modules."""
    out = {}
    for f in sorted((src / PACKAGE).rglob("*.py")):
        inner = [m for m in imports_of(f, src)[1] if module_file(m, src)]
        if inner:
            out[str(f)] = inner
    return out


def code_deps(roots: list[str], src: Path = SRC) -> list[str]:
    """The project files (repository-relative, sorted) that importing the `roots` modules loads,
    with the roots' own function-level imports."""
    return list(_code_deps(tuple(roots), src))


@functools.cache  # stages of one kind share their roots: the stage graph walks each set once
def _code_deps(roots: tuple[str, ...], src: Path) -> tuple[str, ...]:
    seen: dict[Path, None] = {}
    stack = [(m, True) for m in roots]
    while stack:
        module, is_root = stack.pop()
        for name in _with_parents(module):
            f = module_file(name, src)
            if f is None or (f in seen and not (is_root and name == module)):
                continue
            seen[f] = None
            top, inner = imports_of(f, src)
            stack += [(m, False) for m in top]
            if is_root and name == module:
                stack += [(m, False) for m in inner]
    return tuple(sorted(str(f) for f in seen))
