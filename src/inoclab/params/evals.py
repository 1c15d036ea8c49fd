"""Names shared by the evals (eval/kinds/) and the report."""

from __future__ import annotations

# the keys of eval.json's `trait` section: the test-time prompt without and with the inoculation prompt
PROMPT_VARIANTS = ("without_prompt", "with_prompt")
