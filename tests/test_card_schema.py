"""The fast card validator (jsonschema-rs) that compare, gate and plot use agrees with the reference one
(python-jsonschema, whose messages `validate` prints) on valid cards and on hundreds of broken ones."""

from __future__ import annotations

import copy
import random
from typing import Any

from fakecards import FULL_TASKS, fake_card
from hhh_eval.card.io import _fast_validator, _validator, card_errors

BAD_VALUES = [None, -1, 1.5, 2, "x", "", [], {}, True, 10**9, -0.5, "2026-13-45", "0" * 64]


def _paths(node: Any, path: tuple = ()) -> list[tuple]:
    found = [path]
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        found += _paths(child, path + (key,))
    return found


def _mutated(card: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The card with one value replaced, one key deleted or one unknown key added, at a random place."""
    out = copy.deepcopy(card)
    *parents, last = rng.choice(_paths(out)[1:])
    node = out
    for key in parents:
        node = node[key]
    roll = rng.random()
    if roll < 0.3 and isinstance(node, dict):
        del node[last]
    elif roll < 0.4 and isinstance(node, dict):
        node["unknown_key"] = 1
    else:
        node[last] = rng.choice(BAD_VALUES)
    return out


def test_fast_and_reference_validators_agree_on_broken_cards() -> None:
    card = fake_card("schema", seed=3, tasks=FULL_TASKS, n=60).to_json()
    assert _fast_validator().is_valid(card) and card_errors(card) == []
    rng = random.Random(11)
    verdicts = []
    for _ in range(400):
        broken = _mutated(card, rng)
        reference_valid = not any(True for _ in _validator().iter_errors(broken))
        assert _fast_validator().is_valid(broken) == reference_valid, broken
        verdicts.append(reference_valid)
    assert 0 < sum(verdicts) < len(verdicts) * 0.9  # the mutations break most cards, not all


def test_a_card_the_fast_validator_rejects_gets_the_reference_messages() -> None:
    card = fake_card("schema", seed=3, n=30).to_json()
    task = next(iter(card["tasks"]))
    card["tasks"][task]["n_total"] = "many"
    errors = card_errors(card)
    assert errors and errors[0].startswith(f"tasks/{task}/n_total: 'many' is not of type")
