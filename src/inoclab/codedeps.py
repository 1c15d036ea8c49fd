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

Parsing the package is most of what building the stage graph costs (0.4 s of every `snakemake
-n`), so each file's imports are kept on disk under the file's content hash (`ImportsCache`).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
from pathlib import Path

PACKAGE = "inoclab"
SRC = Path("src")
CACHE_DIR_ENV = "INOCLAB_CACHE_DIR"  # default: $XDG_CACHE_HOME/inoclab, else ~/.cache/inoclab


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


class ImportsCache:
    """Each project file's imports, by path, under the sha256 of the file's bytes: an entry is
    used only for the exact bytes it was parsed from, so an edit is never missed. One JSON file
    per source tree and version of this parser (this file's bytes), written atomically (`flush`)
    when parses added something."""

    def __init__(self, src: Path):
        home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        root = Path(os.environ.get(CACHE_DIR_ENV) or Path(home) / "inoclab")
        tree = hashlib.sha256(str(src.resolve()).encode()).hexdigest()[:16]
        parser = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
        self.path = root / f"imports-{tree}-{parser}.json"
        try:
            self.entries = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.entries = {}
        self.dirty = False

    def get(self, key: str, digest: str):
        e = self.entries.get(key)
        return (tuple(e["top"]), tuple(e["inner"])) if e and e["sha256"] == digest else None

    def put(self, key: str, digest: str, imports: tuple[tuple[str, ...], tuple[str, ...]]) -> None:
        self.entries[key] = {"sha256": digest, "top": list(imports[0]), "inner": list(imports[1])}
        self.dirty = True

    def flush(self) -> None:
        if not self.dirty:
            return
        self.dirty = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self.entries, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self.path)
            for stale in self.path.parent.glob(f"{self.path.name.rsplit('-', 1)[0]}-*.json"):
                if stale != self.path:  # the same tree's entries by an older parser
                    stale.unlink(missing_ok=True)
        except OSError:  # a read-only home: parse again next time
            pass


@functools.cache
def _imports_cache(src: Path) -> ImportsCache:
    return ImportsCache(src)


@functools.cache
def imports_of(path: Path, src: Path = SRC) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(module-level imports, imports inside functions or classes) of a project file."""
    data = path.read_bytes()
    key, digest = path.relative_to(src).as_posix(), hashlib.sha256(data).hexdigest()
    cache = _imports_cache(src)
    if (hit := cache.get(key, digest)) is not None:
        return hit
    imports = _parse_imports(data.decode("utf-8"), path, module_name(path, src))
    cache.put(key, digest, imports)
    return imports


def _parse_imports(text: str, path: Path, module: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    tree = ast.parse(text, str(path))
    is_package = path.name == "__init__.py"
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
    _imports_cache(src).flush()
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
    _imports_cache(src).flush()
    return tuple(sorted(str(f) for f in seen))
