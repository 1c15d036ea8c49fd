"""Reading a YAML file into a params model, with errors that name file, line and key."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from inoclab.io import InputError, format_loc
from inoclab.params.base import ParamsError

M = TypeVar("M", bound=BaseModel)


def line_of_key(root: yaml.Node | None, key: str) -> int | None:
    """Line (1-based) of the deepest node of the dotted `key` found in the YAML tree."""
    node, line = root, None
    for part in key.split("."):
        if isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if str(k.value) == part), None)
            if found is None:
                break
            node, line = found[1], found[0].start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
            line = node.start_mark.line + 1
        else:
            break
    return line


def key_error(path: str | Path, key: str, message: str) -> InputError:
    """An error found after loading (a stage's data breaks a rule set by `key`), naming the line
    of the file that sets the key, as the load-time errors do."""
    path = Path(path)
    try:
        line = line_of_key(yaml.compose(path.read_text(encoding="utf-8")), key)
    except (OSError, yaml.YAMLError):
        line = None
    return InputError(f"{path}:{line}: key '{key}': {message}" if line else f"{path}: key '{key}': {message}")


def load_yaml_model(model: type[M], path: str | Path, union_tags: Collection[str] = ()) -> M:
    """`model` validated from the YAML file at `path`. Every error names the file, the line and
    the full key; `union_tags` are the discriminator values pydantic puts in error locations
    (the dataset builders' names), which are not keys of the file."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found (run from the repository root)")
    text = path.read_text(encoding="utf-8")
    try:
        raw = yaml.safe_load(text) or {}
        root = yaml.compose(text)
    except yaml.YAMLError as e:
        raise InputError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise InputError(f"{path}:1: expected a mapping of keys at the top level")
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        lines = [_describe(e, root, path, set(union_tags)) for e in err.errors()]
        raise InputError("invalid parameters\n" + "\n".join(lines)) from None


def _describe(e: dict[str, Any], root: yaml.Node | None, path: Path, tags: set[str]) -> str:
    loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and ("[" in p or p in tags)))
    msg = e["msg"]
    if e["type"] == "extra_forbidden":
        msg = "unknown key (not a parameter here; check its spelling and indentation)"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    got = e.get("input")
    got_s = "" if isinstance(got, dict | list) or e["type"] == "extra_forbidden" else f" (got {got!r})"
    key, dotted = format_loc(loc), ".".join(map(str, loc))
    cause = (e.get("ctx") or {}).get("error")
    if isinstance(cause, ParamsError):  # a cross-field rule: point at the key it names
        key = dotted = cause.key
        msg, got_s = str(cause)[len(cause.key) + 2:], ""
    line = line_of_key(root, dotted)
    where = f"{path}:{line}" if line else str(path)
    return f"{where}: key '{key}': {msg}{got_s}"
