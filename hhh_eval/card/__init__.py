"""The report card: typed models (models.py) and reading, validating and writing report_card.json (io.py)."""

from hhh_eval.card.io import CARD_NAME, card_errors, card_path, check_card, cli_validate, load_card, write_card
from hhh_eval.card.models import (AXES, SCHEMA_VERSION, AxisResult, Card, Clustering, CorrectedRate, DatasetRef, ItemScore,
                                  JudgeInfo, Metric, Score, TaskResult)

__all__ = ["AXES", "CARD_NAME", "SCHEMA_VERSION", "AxisResult", "Card", "Clustering", "CorrectedRate", "DatasetRef", "ItemScore",
           "JudgeInfo", "Metric", "Score", "TaskResult", "card_errors", "card_path", "check_card", "cli_validate",
           "load_card", "write_card"]
