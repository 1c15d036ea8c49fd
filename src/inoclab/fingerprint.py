"""A stage's fingerprint: what the stage reads besides its data. That is its command, the values
of the params keys it reads, and the sha256 of each code file it imports, in one JSON file per
stage, results/fingerprints/<stage>.json. Both engines depend on that file in place of params.yaml
and the code files.

- DVC compares file contents, so a stage reruns exactly when its own fingerprint changes. Listed
  one by one, the code files and params keys were 9,577 dependency entries and 741 params reads,
  and `dvc status` took 11 s.
- Snakemake goes by file times. So a fingerprint file is written only when its content changes
  (`sync`), by the rule's input function as Snakemake plans the job. This replaces Snakemake's
  params rerun trigger, which was half of every `snakemake -n` (it imports pandas and compares
  every job's params).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from inoclab import paths
from inoclab.io import dumps_json, write_text


@functools.cache  # once per file and process: a plan reads each code file for ~100 stages
def file_sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def content(cmd: str, params: dict, code: list[str]) -> str:
    """The fingerprint file's text: stable JSON, so the same stage gives the same bytes."""
    return dumps_json({"cmd": cmd, "params": params, "code": {f: file_sha256(f) for f in code}})


def sync(stage_name: str, text: str) -> str:
    """Write the stage's fingerprint file if its text differs (atomically), and return its path.
    An unchanged fingerprint keeps its file time, so Snakemake sees nothing new."""
    path = paths.fingerprint(stage_name)
    try:
        current = path.read_text(encoding="utf-8")
    except OSError:
        current = None
    if current != text:
        write_text(path, text)
    return str(path)
