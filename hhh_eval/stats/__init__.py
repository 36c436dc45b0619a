"""Statistics of report cards: intervals of one run's metrics, paired differences between runs, clusters,
corpus metrics (F1, calibration) and weighted combinations. hhh_eval.comparison builds on these.

scipy.special is imported inside the functions that use it: plotting and reading cards never load scipy
(about 0.2 s per command)."""

from hhh_eval.stats.clusters import Clusters, JointBootstrap, cluster_key
from hhh_eval.stats.combine import Estimate, correlations, holm, mover, p_from_interval
from hhh_eval.stats.corpus import CORPUS_METRICS, Predictions, corpus_interval, corpus_value
from hhh_eval.stats.intervals import (EMPTY, EXACT_EDGE_COUNT, LEVEL, N_BOOT, Interval, is_binary, mean_interval,
                                      metric_interval, rate_bounds, rate_interval)
from hhh_eval.stats.intervals import newcombe
from hhh_eval.stats.paired import (MIN_CONTINUOUS_PAIRS, PairedResult, mcnemar_p, paired_binary,
                                   paired_continuous, paired_corpus, paired_values)

__all__ = ["CORPUS_METRICS", "EMPTY", "EXACT_EDGE_COUNT", "LEVEL", "MIN_CONTINUOUS_PAIRS", "N_BOOT", "Clusters",
           "Estimate", "Interval", "JointBootstrap", "PairedResult", "Predictions", "cluster_key", "correlations",
           "corpus_interval", "corpus_value", "holm", "is_binary", "mcnemar_p", "mean_interval", "metric_interval",
           "mover", "newcombe", "p_from_interval", "paired_binary", "paired_continuous", "paired_corpus",
           "paired_values", "rate_bounds", "rate_interval"]
