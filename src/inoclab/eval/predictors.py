"""The predictor battery: what the base model, before any training, says about how strongly an
inoculation prompt will suppress its trait. The report sets each predictor beside the
suppression measured after training, across experiments and base models (report.py).

Per base model and paired dataset (rows 2k and 2k+1: one example without and with the prompt):
- `uplift`: how much the prompt raises the logprob of the training responses, per response
  and per token (the surprise measure, eval/inoculation.py). slacki-ai/trait-inoculation found
  its per-token form predicts suppression;
- `drift`: the same on control pairs, responses without the trait (`report.inoculation.control`):
  what the prompt does to text in general. uplift − drift is what it does to the trait alone;
- `elicitation`: the base model's trait rate with the prompt, and without it (`base_rate`), on
  the trait eval's prompts and measure: how far the prompt alone brings out the trait.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from inoclab import paths
from inoclab.data.conversations import read_conversations
from inoclab.eval.inoculation import surprise, trait_rates
from inoclab.params.evals import PROMPT_VARIANTS

if TYPE_CHECKING:
    from inoclab.config import Params
    from inoclab.eval.kinds.trait import TraitEvalConfig


def elicitation(params: Params, model, tokenizer, cfg: TraitEvalConfig) -> dict:
    """The base model's trait rate without and with the inoculation prompt (greedy, the trait
    eval's prompts and measures), with intervals over the prompts."""
    base = cfg.model_copy(update={"test_prompts": {}})  # the two conditions only
    prompts = [c for _, c in read_conversations(paths.dataset(base.prompts))]
    scorers = {name: m.load(params) for name, m in base.measures().items()}
    rates, _ = trait_rates(model, tokenizer, prompts, base, scorers, params.bootstrap)
    without, with_ = rates[PROMPT_VARIANTS[0]], rates[PROMPT_VARIANTS[1]]
    return {"prompts": base.prompts, "measure": base.measure.describe(), "base_rate": without["trait_rate"],
            "base_rate_ci": without["trait_rate_ci"], "elicitation": with_["trait_rate"],
            "elicitation_ci": with_["trait_rate_ci"], "n": with_["n"]}


def predictor_battery(params: Params, model, tokenizer, rows: list[dict], control_rows: list[dict] | None,
                      trait: TraitEvalConfig | None) -> dict:
    """Every predictor the inputs allow: uplift always; drift with control pairs; elicitation
    with a trait eval."""
    pad = tokenizer.pad_token_id
    out = {"uplift": surprise(model, rows, pad, params.bootstrap)}
    if control_rows is not None:
        out["drift"] = surprise(model, control_rows, pad, params.bootstrap)
    if trait is not None:
        out["elicitation"] = elicitation(params, model, tokenizer, trait)
    return out
