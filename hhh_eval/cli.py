"""`hhh-eval` command line. Argument parsing only; each subcommand lives in the module named for it.

Heavy modules (torch, lm-eval, matplotlib) are imported only when a subcommand runs, so `--help` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable

# subcommand -> (module, function taking the parsed args and returning an exit code)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("hhh_eval.pipeline", "cli_run"),
    "demo": ("hhh_eval.demo", "cli_demo"),
    "tasks": ("hhh_eval.task_listing", "cli_tasks"),
    "validate": ("hhh_eval.card", "cli_validate"),
    "judge": ("hhh_eval.judging", "cli_judge"),
    "judge-eval": ("hhh_eval.judge_eval", "cli_judge_eval"),
    "judge-agreement": ("hhh_eval.judge_eval", "cli_judge_agreement"),
    "compare": ("hhh_eval.compare", "cli_compare"),
    "plot": ("hhh_eval.plots", "cli_plot"),
    "report": ("hhh_eval.report", "cli_report"),
    "export": ("hhh_eval.export", "cli_export"),
    "gate": ("hhh_eval.gate", "cli_gate"),
    "power": ("hhh_eval.planning", "cli_power"),
}


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _add_judge_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--judge-backend", help="backend of a model judge instead of its spec's (hf, vllm, ...)")
    p.add_argument("--judge-model-args", help="model args of a model judge instead of its spec's, "
                   "e.g. 'pretrained=/models/Llama-Guard-3-8B' (recorded in the judge's identity)")


def _add_eval_options(p: argparse.ArgumentParser) -> None:
    """Options shared by `run` and `demo`."""
    p.add_argument("--suite", default="hhh-core", help="suite name from tasks/suites/ (default: hhh-core)")
    p.add_argument("--tasks", help="comma-separated subset of the suite's tasks")
    p.add_argument("--limit", type=_positive_int, help="cap items per task (the card is marked partial)")
    p.add_argument("--judge", help="judge for free-text answers, from tasks/judges/ (default: each task's, refusal)")
    _add_judge_model_options(p)
    p.add_argument("--data-dir", help="offline data: DIR/hub/<org>/<name>/<config>/<split>.jsonl (or HHH_EVAL_DATA_DIR)")
    p.add_argument("--output-dir", default="results", help="where runs go: OUTPUT_DIR/<model-slug>/<run-name>/")
    p.add_argument("--run-name", help="name of the run folder (default: the suite name, plus -limitN)")
    p.add_argument("--batch-size", default="8", help="batch size passed to the backend: an integer or 'auto' (default: 8)")
    p.add_argument("--seed", type=int, default=1234, help="seed for lm-eval, sampling and bootstrap (default: 1234)")
    p.add_argument("--gen-kwargs", help="generation overrides, e.g. 'max_gen_toks=128' (recorded on the card)")
    p.add_argument("--system-prompt", help="system prompt for chat-formatted generation tasks (recorded)")
    p.add_argument("--label", action="append", default=[], metavar="KEY=VALUE",
                   help="metadata for plots and comparisons, e.g. step=2000 (repeatable)")
    p.add_argument("--force", action="store_true", help="recompute finished stages instead of resuming")
    p.add_argument("--policy", help="release policy YAML: run the gate on the new card; exit 1 when it fails")
    p.add_argument("--baseline", help="baseline card or run folder for the policy's non-inferiority checks")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hhh-eval",
        description="Evaluate a language model for helpfulness, honesty and harmlessness; "
        "write a report card, compare cards, plot them and gate a release.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="run a suite on a model and write a report card")
    p.add_argument("--model", required=True, help="lm-eval backend: hf, vllm, local-completions, ...")
    p.add_argument("--model-args", required=True, help="backend args, e.g. 'pretrained=org/name,dtype=bfloat16'")
    _add_eval_options(p)

    p = sub.add_parser("demo", help="offline demo: a tiny local model on shipped sample items (scores mean nothing)")
    _add_eval_options(p)

    sub.add_parser("tasks", help="list tasks and suites: axis, dataset, headline metric, version")

    p = sub.add_parser("validate", help="check a report card against the schema (exit 0 valid, 1 invalid, 2 no such card)")
    p.add_argument("card", help="path to report_card.json")

    p = sub.add_parser("judge", help="re-judge a run's saved answers and re-score its card (no model calls)")
    p.add_argument("run_dir", help="a run folder holding samples/ and report_card.json")
    p.add_argument("--judge", required=True, help="judge name from tasks/judges/")
    _add_judge_model_options(p)
    p.add_argument("--force", action="store_true", help="judge again even where verdicts exist")

    p = sub.add_parser("judge-eval", help="agreement of a judge with human labels (accuracy, kappa, confusion)")
    p.add_argument("--judge", required=True, help="judge name from tasks/judges/")
    p.add_argument("--labels", required=True, nargs="+", help="JSONL files of prompt, completion and human label")
    p.add_argument("--save", action="store_true", help="write the judge's validation record beside its spec "
                   "(<spec folder>/validation/<judge>.json)")

    p = sub.add_parser("judge-agreement", help="how two judges agree on one run's answers")
    p.add_argument("run_dir", help="a run folder with verdicts of both judges (hhh-eval judge RUN_DIR --judge NAME)")
    p.add_argument("--judges", required=True, help="two judge names, comma-separated")

    p = sub.add_parser("compare", help="compare report cards with paired tests (Holm-corrected)")
    p.add_argument("cards", nargs="+", help="report_card.json files or run folders")
    p.add_argument("--baseline", help="the card or run folder to compare against (default: the first)")
    p.add_argument("--format", choices=("md", "json"), default="md")
    p.add_argument("--out", help="folder to write comparison.md / comparison.json into")
    p.add_argument("--allow-mismatch", action="store_true", help="compare cards with different suites, versions, data or judges; mark affected rows")

    p = sub.add_parser("plot", help="plot cards: axis scores, per-task bars, trends, trade-off frontier, harm heatmap")
    p.add_argument("cards", nargs="+", help="report_card.json files or run folders")
    p.add_argument("--out", required=True, help="folder for the PNG and SVG files")
    p.add_argument("--x", nargs="+", help="x value per card for trend plots (e.g. training steps), in the order given")
    p.add_argument("--x-label", default=None, help="card label key to use as x (e.g. step), or a name for --x values")
    p.add_argument("--tasks", help="comma-separated tasks to include in trend plots")

    p = sub.add_parser("report", help="write report.md and report.html (plots, sample browser) for a run")
    p.add_argument("run_dir", help="a run folder or its report_card.json")
    p.add_argument("--baseline", help="another run folder: report.html also lists the items whose outcome changed")

    p = sub.add_parser("export", help="export a card as Hugging Face model-index YAML and lm-eval results JSON "
                       "(a demo or partial card is marked in every result)")
    p.add_argument("card", help="report_card.json or run folder")
    p.add_argument("--out", help="folder to write into (default: next to the card)")

    p = sub.add_parser("gate", help="check a card against a release policy (exit 0 pass, 1 fail, 2 invalid input)")
    p.add_argument("card", help="report_card.json or run folder")
    p.add_argument("--policy", required=True, help="policy YAML, e.g. tasks/policies/release.yaml")
    p.add_argument("--baseline", help="baseline card or run folder for non-inferiority checks")

    p = sub.add_parser("power", help="items a non-inferiority check of a task metric needs (and its MDE at full size)")
    p.add_argument("--task", required=True, help="task name, e.g. beavertails")
    p.add_argument("--margin", required=True, type=float, help="non-inferiority margin in the metric's units, e.g. 0.03")
    p.add_argument("--metric", help="metric of the task (default: its headline in --suite)")
    p.add_argument("--baseline", help="baseline card or run folder: its per-item results give the spread")
    p.add_argument("--suite", default="hhh-core", help="suite whose headline metric is the default (default: hhh-core)")
    p.add_argument("--power", type=float, default=0.8, help="power to pass when there is no difference (default: 0.8)")
    p.add_argument("--alpha", type=float, default=0.05, help="two-sided level of the paired interval (default: 0.05)")
    return parser


def _handler(command: str) -> Callable[[argparse.Namespace], int]:
    module, func = COMMANDS[command]
    return getattr(importlib.import_module(module), func)


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    from hhh_eval.errors import UserError

    try:
        return _handler(args.command)(args)
    except UserError as exc:
        print(f"hhh-eval {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"hhh-eval {args.command}: interrupted; finished work is kept, run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
