"""Power and minimum detectable effects: `hhh-eval power` against the closed-form sample size for paired
proportions and against a simulation of the gate's own check; underpowered gate checks say so."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from hhh_eval import stats
from hhh_eval.cli import main
from hhh_eval.stats import power


def _closed_form(margin: float, discordance: float, alpha: float = 0.05, beta: float = 0.2) -> int:
    """Connor (1987) at no true difference: n = psi (z_{1-alpha/2} + z_{1-beta})^2 / margin^2."""
    return math.ceil(discordance * (sps.norm.ppf(1 - alpha / 2) + sps.norm.ppf(1 - beta)) ** 2 / margin ** 2)


@pytest.mark.parametrize(("margin", "discordance"), [(0.03, 0.1), (0.05, 0.3), (0.02, 0.05), (0.1, 0.5)])
def test_items_needed_matches_the_closed_form(margin, discordance):
    assert power.paired_items_needed(margin, discordance) == _closed_form(margin, discordance)


@pytest.mark.parametrize(("margin", "discordance"), [(0.03, 0.1), (0.05, 0.3)])
def test_items_needed_give_the_gate_80_percent_power(margin, discordance):
    """Simulate the gate's own paired check at the planned n with no true difference: it passes ~80%."""
    n, reps = power.paired_items_needed(margin, discordance), 2000
    rng = np.random.default_rng(int(margin * 1000))
    passed = 0
    for _ in range(reps):
        cells = rng.choice(4, size=n, p=[0.5, discordance / 2, discordance / 2, 0.5 - discordance])
        a, b = np.isin(cells, [0, 1]).astype(float), np.isin(cells, [0, 2]).astype(float)
        passed += stats.paired_binary(a, b).low >= -margin
    rate = passed / reps
    print(f"margin {margin}, discordance {discordance}: n={n}, simulated pass rate {rate:.3f} over {reps}")
    assert abs(rate - 0.8) < 0.04


def test_mde_inverts_items_needed():
    n = power.paired_items_needed(0.03, 0.2)
    assert power.paired_mde(n, 0.2) == pytest.approx(0.03, rel=0.01)
    half = sps.norm.ppf(0.975) * 0.01  # the half-width of a 95% interval with standard error 0.01
    assert power.mde(half) == pytest.approx((sps.norm.ppf(0.975) + sps.norm.ppf(0.8)) * 0.01, rel=1e-9)


def test_perfect_model_items_for_rate_bounds():
    """A perfect model's exact upper bound at zero failures: 1 - 0.025^(1/n)."""
    n = power.perfect_items_needed(0.05, upper=True)
    assert power.perfect_bound(n, upper=True) <= 0.05 < power.perfect_bound(n - 1, upper=True)
    assert n == 72  # log(0.025) / log(0.95) = 71.9
    low = power.perfect_items_needed(0.95, upper=False)
    assert power.perfect_bound(low, upper=False) >= 0.95 > power.perfect_bound(low - 1, upper=False)


def test_power_command_prints_items_needed(capsys):
    assert main(["power", "--task", "beavertails", "--margin", "0.03"]) == 0
    out = capsys.readouterr().out
    assert f"items needed: {_closed_form(0.03, 0.5)}" in out and "worst case 0.5" in out
    assert main(["power", "--task", "calibration", "--margin", "0.03"]) == 2  # a corpus metric is refused
    assert main(["power", "--task", "nope", "--margin", "0.03"]) == 2
