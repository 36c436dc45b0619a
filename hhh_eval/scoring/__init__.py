"""The score stage: per-item scores (items.py), task entries with intervals (tasks.py) and axis scores (axes.py)."""

from hhh_eval.scoring.axes import axis_results, task_correlations
from hhh_eval.scoring.items import JUDGED_METRICS, item_scores, items_fingerprint
from hhh_eval.scoring.tasks import (FALLBACK_NOTE, JudgeValidation, derived_result, derived_rows, judge_validation,
                                    metric_result, score_of, task_result)

__all__ = ["FALLBACK_NOTE", "JUDGED_METRICS", "JudgeValidation", "axis_results", "derived_result", "derived_rows",
           "item_scores", "judge_validation",
           "items_fingerprint", "metric_result", "score_of", "task_correlations", "task_result"]
