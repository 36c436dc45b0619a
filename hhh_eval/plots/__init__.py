"""Plots of report cards (matplotlib Figure objects rendered with Agg; no pyplot state): PNG and SVG per plot.

figures.py: axis scores, task scores, trends, Pareto plot; categories.py: per-category bars and heatmaps;
common.py: labels, intervals, x values, colours; output.py: rendering, files, the report's images, `hhh-eval plot`.
"""

from hhh_eval.plots.categories import categories_figure, category_tasks
from hhh_eval.plots.common import ANNOTATE_MAX, LABEL_MAX, LEGEND_MAX, card_labels, x_values
from hhh_eval.plots.figures import (axis_scores_figure, pareto_figure, pareto_frontier, task_scores_figure,
                                    trends_figure)
from hhh_eval.plots.output import (MANIFEST, CardSource, FigureJob, PlotImage, card_figures, card_images, cli_plot,
                                   comparability_warnings, render, render_files, render_jobs,
                                   write_plots)

__all__ = ["ANNOTATE_MAX", "LABEL_MAX", "LEGEND_MAX", "MANIFEST", "CardSource", "FigureJob", "PlotImage",
           "axis_scores_figure", "card_figures", "card_images", "card_labels", "categories_figure", "category_tasks",
           "cli_plot", "comparability_warnings", "pareto_figure", "pareto_frontier", "render", "render_files",
           "render_jobs", "task_scores_figure", "trends_figure", "write_plots", "x_values"]
