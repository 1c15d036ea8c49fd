"""Model backends: how a base model is loaded, made trainable (LoRA or full) and saved.

`backend: auto | hf | unsloth` in params.yaml. The transformers+peft backend (`hf.py`) runs
everywhere, CPU included; the unsloth backend (`unsloth.py`, CUDA only) implements the same
interface. This module picks one and is kept free of transformers, so that the stage entry point
(inoclab.stages) can decide, and import unsloth, before anything else imports transformers, trl
or peft (unsloth patches them when it is imported). The choice is made where the job runs, not
where params are read: on a cluster the login node that builds the DAG has no GPU, the nodes
that train do.
"""

from __future__ import annotations

import importlib.util
import os
import socket
from typing import TYPE_CHECKING

from inoclab.io import InputError

if TYPE_CHECKING:
    from inoclab.backends.common import Backend, Dtype
    from inoclab.config import Params

BACKENDS = ("auto", "hf", "unsloth")
GPU_EXTRA = "pip install -e '.[gpu]'"


class BackendError(InputError):
    """The backend named in params cannot run on this machine."""


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def unsloth_installed() -> bool:
    return importlib.util.find_spec("unsloth") is not None


def resolve_backend(name: str, load_in_4bit: bool = False) -> str:
    """`auto` -> `unsloth` where a CUDA device is present and the gpu extra is installed, else
    `hf`. An explicit `unsloth` that cannot run here fails now, before any model is loaded."""
    if name not in BACKENDS:
        raise BackendError(f"backend {name!r}: not a backend (choose: {', '.join(BACKENDS)})")
    if name == "auto":
        name = "unsloth" if cuda_available() and unsloth_installed() else "hf"
    elif name == "unsloth":
        if not cuda_available():
            raise BackendError(
                f"backend: unsloth needs a CUDA GPU, and torch sees none on {socket.gethostname()} "
                "(torch.cuda.is_available() is False). Set `backend: auto` (the transformers+peft "
                "backend where there is no GPU) or `backend: hf` in params.yaml, or run this stage "
                "on a GPU node (workflow/profiles/slurm).")
        if not unsloth_installed():
            raise BackendError(f"backend: unsloth needs the `gpu` extra, which is not installed: {GPU_EXTRA}")
    if load_in_4bit and name != "unsloth":
        raise BackendError(
            "load_in_4bit: 4-bit loading needs the unsloth backend on a CUDA GPU (with bitsandbytes); "
            f"here the backend is {name!r}. Set `load_in_4bit: false` or run on a GPU node.")
    return name


def preload(name: str, load_in_4bit: bool = False) -> str:
    """Resolve the backend and, for unsloth, import it now, ahead of transformers/trl/peft.
    UNSLOTH_RETURN_LOGITS=1: TRL's preference losses (DPO, ORPO) read the forward's logits, which
    unsloth's fused cross-entropy otherwise never materialises. inoclab's own losses and evals
    run the decoder and apply the head at the positions they read (models/head.py), so they need
    no logits from the forward."""
    resolved = resolve_backend(name, load_in_4bit)
    if resolved == "unsloth":
        os.environ.setdefault("UNSLOTH_RETURN_LOGITS", "1")
        import unsloth  # noqa: F401
    return resolved


def get_backend(name: str = "auto", dtype: Dtype = "auto", load_in_4bit: bool = False,
                max_seq_length: int = 2048) -> Backend:
    """The backend `name` resolves to on this machine (an explicit unsloth without CUDA fails)."""
    if resolve_backend(name, load_in_4bit) == "hf":
        from inoclab.backends.hf import HFBackend

        return HFBackend(dtype=dtype)
    from inoclab.backends.unsloth import UnslothBackend  # imports unsloth: GPU only

    return UnslothBackend(dtype=dtype, load_in_4bit=load_in_4bit, max_seq_length=max_seq_length)


def backend_for(params: Params) -> Backend:
    """The backend params.yaml asks for (`backend`, `dtype`, `load_in_4bit`)."""
    return get_backend(params.backend, params.dtype, params.load_in_4bit, params.tokenize.max_seq_length)
