"""The memory allocator of the stages' processes: tcmalloc where it is installed.

glibc's malloc serves the mid-size blocks of a training step (a decoder's activations: up to 32 MB
each) from its heap, and fragmentation keeps what is freed there: one CPU training step of
SmolLM2-135M on 4,000 tokens held 5.9 GB of RSS for about 0.6 GB of live tensors. tcmalloc
(gperftools; Debian and Ubuntu: `libtcmalloc-minimal4`) reuses those blocks, and the same step
peaks at 1.8 GB and runs a little faster (bench/head_step.py). It changes no number: torch aligns
its CPU buffers itself, so kernels see the same layouts.

A process can only get another malloc at start, so the stage entry point starts itself again
with tcmalloc preloaded (`reexec_with_tcmalloc`), before it imports anything heavy. Set
INOCLAB_ALLOCATOR=system to keep glibc's.
"""

from __future__ import annotations

import ctypes.util
import os
import sys
from collections.abc import Mapping

ENV = "INOCLAB_ALLOCATOR"  # "system": keep the C library's malloc
LIBRARY = "tcmalloc_minimal"


def tcmalloc() -> str | None:
    """The tcmalloc library's name as the dynamic loader finds it, or None where it is not installed."""
    return ctypes.util.find_library(LIBRARY) if sys.platform == "linux" else None


def preloaded(env: Mapping[str, str] = os.environ) -> bool:
    return LIBRARY in env.get("LD_PRELOAD", "")


def with_tcmalloc(env: dict[str, str]) -> dict[str, str]:
    """`env` with tcmalloc preloaded, where it is installed and not turned off."""
    if env.get(ENV) == "system" or preloaded(env) or not (lib := tcmalloc()):
        return env
    return {**env, "LD_PRELOAD": f"{lib} {env.get('LD_PRELOAD', '')}".strip()}


def started_as(module: str) -> bool:
    """Whether this process was started as `python [options] -m <module>`."""
    argv = sys.orig_argv
    return "-m" in argv and argv.index("-m") + 1 < len(argv) and argv[argv.index("-m") + 1] == module


def reexec_with_tcmalloc() -> None:
    """Replace this process by the same command line with tcmalloc preloaded; returns only where
    that is not possible or not wanted (then glibc's malloc serves)."""
    env = with_tcmalloc(dict(os.environ))
    if env.get("LD_PRELOAD") != os.environ.get("LD_PRELOAD"):
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, sys.orig_argv, env)


def name() -> str:
    """The allocator serving this process."""
    return "tcmalloc" if preloaded() else "system"
