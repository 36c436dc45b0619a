"""Judge-error-corrected rates: the Rogan-Gladen estimate with the Lang-Reiczigel interval covers the true
prevalence when a judge with known error rates labels a synthetic population, the validation set being of
realistic size (450 human-labelled items). Run with -s to see every cell."""

from __future__ import annotations

import numpy as np
import pytest

from hhh_eval.stats.correction import Corrected, JudgeAccuracy, corrected_rate

REPS = 1500
JUDGES = ((0.95, 0.97), (0.85, 0.90), (0.70, 0.95))  # (sensitivity, specificity)
VALIDATION = ((150, 300), (300, 150))  # human positives, negatives: 450 labelled items
PREVALENCES = (0.05, 0.2, 0.5, 0.9)
SIZES = (50, 200, 700, 2000)


def _simulate(rng: np.random.Generator, se: float, sp: float, positives: int, negatives: int, pi: float,
              n: int) -> Corrected:
    accuracy = JudgeAccuracy(rng.binomial(positives, se), positives, rng.binomial(negatives, sp), negatives)
    truth = rng.binomial(n, pi)
    judged = rng.binomial(truth, se) + rng.binomial(n - truth, 1 - sp)
    return corrected_rate(judged, n, accuracy)


def test_corrected_interval_covers_the_true_prevalence():
    cells = {}
    for se, sp in JUDGES:
        for positives, negatives in VALIDATION:
            for pi in PREVALENCES:
                for n in SIZES:
                    rng = np.random.default_rng([int(se * 100), int(sp * 100), positives, int(pi * 100), n])
                    hits = 0
                    for _ in range(REPS):
                        c = _simulate(rng, se, sp, positives, negatives, pi, n)
                        assert c.low is not None and c.low <= c.value <= c.high
                        hits += c.low <= pi <= c.high
                    cells[(se, sp, positives, pi, n)] = hits / REPS
    worst, best = min(cells, key=cells.get), max(cells, key=cells.get)
    print(f"corrected-rate coverage over {len(cells)} cells ({REPS} reps each): worst {cells[worst]:.4f} at "
          f"se,sp={worst[:2]} validation positives={worst[2]} prevalence={worst[3]} n={worst[4]}; best "
          f"{cells[best]:.4f} at {best}")
    high = {k: v for k, v in cells.items() if v > 0.97}
    print(f"cells above 0.97 (conservative next to 0, where the interval is clipped): {high}")
    assert 0.93 <= min(cells.values()) and max(cells.values()) <= 0.985
    assert all(k[3] * k[4] < 5 for k in high)  # only where fewer than 5 true positives are expected


def test_raw_rate_is_biased_and_the_correction_removes_it():
    rng, se, sp, pi, n = np.random.default_rng(1), 0.85, 0.90, 0.05, 2000
    raw, corrected = [], []
    for _ in range(500):
        truth = rng.binomial(n, pi)
        judged = rng.binomial(truth, se) + rng.binomial(n - truth, 1 - sp)
        raw.append(judged / n)
        corrected.append(corrected_rate(judged, n, JudgeAccuracy(1275, 1500, 1350, 1500)).value)
    print(f"true 0.05: raw judged rate {np.mean(raw):.4f}, corrected {np.mean(corrected):.4f}")
    assert np.mean(raw) > 0.13 and abs(np.mean(corrected) - pi) < 0.005


@pytest.mark.parametrize(("accuracy", "reason"), [
    (JudgeAccuracy(40, 100, 50, 100), "no better than chance"),  # se 0.4 + sp 0.5 <= 1
    (JudgeAccuracy(0, 0, 50, 100), "lacks human positives"),
])
def test_no_corrected_rate_without_a_useful_validation(accuracy, reason):
    c = corrected_rate(10, 100, accuracy)
    assert c.value is None and c.low is None and reason in c.note
