"""Reading JSONL with errors that name file, line and field; writing outputs atomically.

Every artefact is written to a temporary sibling and renamed into place, so a killed job
never leaves a file (or directory) that looks finished.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class InputError(ValueError):
    """Bad user input: the message names the file, the line and the field."""


def format_loc(loc: tuple[Any, ...]) -> str:
    """Render a pydantic error location as a dotted path (`messages[1].content[0].weight`)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "<root>"


def describe_validation_error(err: ValidationError, where: str) -> str:
    """One readable line per problem, each prefixed with `where` (file:line)."""
    lines = []
    for e in err.errors():
        field = format_loc(e["loc"])
        got = e.get("input")
        got_s = "" if isinstance(got, dict | list) else f" (got {got!r})"
        lines.append(f"{where}: field '{field}': {e['msg']}{got_s}")
    return "\n".join(lines)


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """Yield (line number, parsed object) for every non-blank line; malformed JSON is an error."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"{path}:{lineno}: malformed JSON: {e.msg} (column {e.colno})") from None


def read_jsonl_models(path: str | Path, model: type[M]) -> list[tuple[int, M]]:
    """Parse every line of `path` into `model`; the first bad line raises with file:line:field."""
    rows = []
    for lineno, obj in iter_jsonl(path):
        try:
            rows.append((lineno, model.model_validate(obj)))
        except ValidationError as e:
            raise InputError(describe_validation_error(e, f"{path}:{lineno}")) from None
    if not rows:
        raise InputError(f"{path}: no records (the file is empty)")
    return rows


def _tmp_name(path: Path) -> Path:
    return path.parent / f".{path.name}.tmp"


def _tmp_sibling(path: Path, is_dir: bool) -> Path:
    """`.<name>.tmp` next to `path`. The name is fixed, not random, because libraries record
    where they wrote (the Trainer's output_dir lands in every checkpoint), and a random name
    would make every rebuild differ. One job writes one output, so the name cannot clash; a
    leftover from a killed run is removed first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(path)
    if tmp.is_dir() and not tmp.is_symlink():
        shutil.rmtree(tmp)
    elif tmp.exists() or tmp.is_symlink():
        tmp.unlink()
    if is_dir:
        tmp.mkdir()
    else:
        tmp.touch()
    return tmp


@contextlib.contextmanager
def atomic_path(path: str | Path, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write to; on success it replaces `path`, on error it vanishes."""
    path = Path(path)
    tmp = _tmp_sibling(path, is_dir)
    try:
        yield tmp
        _replace(tmp, path)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def _replace(tmp: Path, path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    os.replace(tmp, path)


RESUME_KEY = ".resume-key"


@contextlib.contextmanager
def resumable_dir(path: str | Path, key: str) -> Iterator[tuple[Path, bool]]:
    """`atomic_path` for a folder whose temporary sibling outlives a failure or a kill: a rerun
    with the same `key` (a digest of everything the output depends on) continues in it, any other
    key starts afresh. Yields (the temporary folder, whether it was continued). The folder moves
    into place only on success, so a partial output never looks finished."""
    path = Path(path)
    tmp = _tmp_name(path)
    marker = tmp / RESUME_KEY
    resumed = tmp.is_dir() and marker.is_file() and marker.read_text(encoding="utf-8") == key
    if not resumed:
        tmp = _tmp_sibling(path, is_dir=True)
        marker.write_text(key, encoding="utf-8")
    yield tmp, resumed
    marker.unlink()
    _replace(tmp, path)


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def dumps_json(obj: Any) -> str:
    """Stable JSON: sorted keys, fixed indentation, trailing newline (same inputs, same bytes)."""
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_json(path: str | Path, obj: Any) -> None:
    write_text(path, dumps_json(obj))


def write_jsonl(path: str | Path, rows: list[Any]) -> None:
    write_text(path, "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows))
