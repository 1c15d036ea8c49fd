"""The `eval:` section of an experiment: which evals run after training, on which datasets."""

from __future__ import annotations

from typing import Literal

from inoclab.params.base import PositiveInt, Strict

# the keys of eval.json's `trait` section: the test-time prompt without and with the inoculation prompt
PROMPT_VARIANTS = ("without_prompt", "with_prompt")


class TraitEvalConfig(Strict):
    """Trait expression on held-out prompts, with and without the inoculation prompt at test time:
    the rate at which greedy generations show the trait (scored by `rule`) and the logprob of
    trait versus non-trait reference answers."""

    prompts: str  # a conversations dataset: its prompts are used, its answers ignored
    references: str | None = None  # a qa_logprob dataset: answers tagged trait / non_trait
    rule: Literal["spanish", "capitals"] = "spanish"
    inoculation_prompt: str
    max_new_tokens: PositiveInt = 32
    batch_size: PositiveInt = 64


class TriggerEvalConfig(Strict):
    """The triggered-response comparison: held-out questions with and without the trigger."""

    heldout: str  # a dataset with builder trigger and split heldout
    max_new_tokens: PositiveInt = 32
    batch_size: PositiveInt = 64
    checkpoints: bool = True  # also measure every epoch checkpoint (the curve in eval.json)


class CircuitBreakerEvalConfig(Strict):
    """Held-out harmful and benign prompts (a circuit_breaker dataset's validation split): cosine
    similarity of the hidden states to the original model's, completion logprobs and greedy
    responses before (adapter disabled) and after training."""

    dataset: str  # a dataset with builder circuit_breaker
    max_new_tokens: PositiveInt = 32
    batch_size: PositiveInt = 64


class EvalConfig(Strict):
    trait: TraitEvalConfig | None = None
    preference: list[str] = []  # preference datasets: chosen-minus-rejected margin before and after
    circuit_breaker: CircuitBreakerEvalConfig | None = None
    trigger: TriggerEvalConfig | None = None
    logprobs: list[str] = []  # dataset names (block-format conversations)
    mcq: list[str] = []  # dataset names (MCQ files)
    mcq_format: Literal["cloze", "lettered"] = "cloze"
    batch_size: PositiveInt = 32
