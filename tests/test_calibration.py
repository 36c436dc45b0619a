"""Calibration error on the card: the debiased RMS calibration error and its interval cover the true value,
where the plug-in ECE's percentile bootstrap does not. Run with -s to see every cell."""

from __future__ import annotations

import numpy as np
import pytest

from hhh_eval import stats
from hhh_eval.stats.corpus import ECE_BINS

REPS = 200
N_BOOT = 300
SHIFTS = (0.0, 0.03, 0.08)  # overconfidence: P(correct | confidence c) = c - shift
SIZES = (200, 817, 2090)  # a small task, TruthfulQA MC1, calibration's MC1 + MedQA


def _confidence(rng: np.random.Generator, n: int) -> np.ndarray:
    return 0.25 + 0.75 * rng.beta(2.0, 2.5, n)  # 4-choice items: the chosen answer's probability


def _draw(rng: np.random.Generator, n: int, shift: float) -> stats.Predictions:
    conf = _confidence(rng, n)
    correct = rng.random(n) < np.clip(conf - shift, 0, 1)
    gold = rng.integers(0, 4, n)
    return stats.Predictions(np.where(correct, gold, (gold + 1) % 4), gold, conf)


def _truth(shift: float) -> tuple[float, float]:
    """The population's binned RMS calibration error and plug-in-free ECE, from a large sample of confidences."""
    conf = _confidence(np.random.default_rng(99), 2_000_000)
    gap = np.clip(conf - shift, 0, 1) - conf
    bins = np.minimum((conf * ECE_BINS).astype(int), ECE_BINS - 1)
    count, total = np.bincount(bins, minlength=ECE_BINS), np.bincount(bins, gap, minlength=ECE_BINS)
    rms = float(np.sqrt((total ** 2 / np.maximum(count, 1)).sum() / conf.size))
    return rms, float(np.abs(total).sum() / conf.size)


def _cell(shift: float, n: int, truths: tuple[float, float]) -> tuple[float, float]:
    """Coverage of the card's interval of the RMS calibration error, and of the plug-in ECE's percentile bootstrap
    (the interval it replaces), over REPS samples (the same bootstrap weights for both)."""
    rng = np.random.default_rng([int(shift * 1000), n])
    hits = ece_hits = 0
    for rep in range(REPS):
        p = _draw(rng, n, shift)
        iv = stats.corpus_interval("rms_calibration_error", p, seed=rep, n_boot=N_BOOT)
        assert iv.low <= iv.value <= iv.high  # the reported value always lies inside its interval
        hits += iv.low <= truths[0] <= iv.high
        w = stats.Clusters.singletons(n).bootstrap_weights(rep, N_BOOT)
        lo, hi = np.quantile(stats.CORPUS_METRICS["ece"].statistic(w, p), [0.025, 0.975])
        ece_hits += lo <= truths[1] <= hi
    return hits / REPS, ece_hits / REPS


def test_rms_calibration_error_interval_covers_the_truth():
    cells, ece_cells = {}, {}
    for shift in SHIFTS:
        truths = _truth(shift)
        for n in SIZES:
            cells[(shift, n)], ece_cells[(shift, n)] = _cell(shift, n, truths)
            print(f"miscalibration {shift:.2f} n={n}: RMS CE coverage {cells[(shift, n)]:.3f} "
                  f"(plug-in ECE percentile bootstrap {ece_cells[(shift, n)]:.3f}); truth RMS {truths[0]:.4f}")
    worst = min(cells, key=cells.get)
    print(f"worst cell: miscalibration {worst[0]} n={worst[1]} coverage {cells[worst]:.3f} ({REPS} reps per cell)")
    assert min(cells.values()) >= 0.92
    assert min(ece_cells.values()) < 0.8  # the interval it replaces fails: the simulation can tell them apart


@pytest.mark.parametrize("shift", SHIFTS)
def test_debiased_estimate_is_nearly_unbiased_where_plug_in_is_not(shift):
    rng, n = np.random.default_rng(5), 817
    rms_truth, _ = _truth(shift)
    squared, plug_in = [], []
    ones = np.ones((1, n))
    for _ in range(400):
        p = _draw(rng, n, shift)
        squared.append(stats.corpus.squared_calibration_error(ones, p)[0])
        plug_in.append(stats.corpus.squared_calibration_error(ones, p, debiased=False)[0])
    print(f"shift {shift}: true CE^2 {rms_truth ** 2:.5f}, debiased mean {np.mean(squared):.5f}, "
          f"plug-in mean {np.mean(plug_in):.5f}")
    se = np.std(squared) / np.sqrt(len(squared))
    assert abs(np.mean(squared) - rms_truth ** 2) < 3 * se + 1e-5
    assert np.mean(plug_in) - rms_truth ** 2 > 5 * se
