"""Dotted params keys (`experiments.baseline.training`): their values, and whether params.yaml
sets them itself. The stage graph records the keys each stage reads (workflow.py)."""

from __future__ import annotations

from pydantic import BaseModel


def value_at(node, key: str):
    """The value at a dotted key in nested dicts (params as plain data), or None."""
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def declared(params: BaseModel, key: str) -> bool:
    """Whether params.yaml itself sets `key` (not left to its default)."""
    node = params
    for part in key.split("."):
        if isinstance(node, BaseModel) and part in node.model_fields_set:
            node = getattr(node, part)
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return False
    return True
