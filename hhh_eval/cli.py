"""`hhh-eval` command line. Argument parsing only; each subcommand lives in the module named for it.

Heavy modules (torch, lm-eval, matplotlib) are imported only when a subcommand runs, so `--help` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from typing import NoReturn

# subcommand -> (module, function taking the parsed args and returning an exit code)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("hhh_eval.run_command", "cli_run"),
    "demo": ("hhh_eval.demo", "cli_demo"),
    "tasks": ("hhh_eval.task_listing", "cli_tasks"),
    "new-task": ("hhh_eval.new_task", "cli_new_task"),
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
    "sweep": ("hhh_eval.sweep.runner", "cli_sweep"),
}


class _Parser(argparse.ArgumentParser):
    """argparse with errors in the house style: one line naming the problem and where the fix is, exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see {self.prog} --help\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _add_include_path(p: argparse.ArgumentParser) -> None:
    p.add_argument("--include-path", action="append", default=[], metavar="DIR",
                   help="a folder laid out like tasks/ (axis folders, derived/, suites/, judges/, policies/) with your "
                   "own definitions; repeatable, and HHH_EVAL_INCLUDE_PATH=DIR1:DIR2 adds more")


def _add_judge_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--judge-backend", help="backend of a model judge instead of its spec's (hf, vllm, ...)")
    p.add_argument("--judge-model-args", help="model args of a model judge instead of its spec's, "
                   "e.g. 'pretrained=/models/Llama-Guard-3-8B' (recorded in the judge's identity)")


def _add_eval_options(p: argparse.ArgumentParser) -> None:
    """Options shared by `run` and `demo`."""
    p.add_argument("--suite", help="suite name (suites/ folders) or YAML file (default: hhh-core; with --tasks "
                   "outside hhh-core, a suite of just those tasks)")
    p.add_argument("--tasks", help="comma-separated tasks: a subset of the suite's, or any tasks when --suite is not given")
    p.add_argument("--limit", type=_positive_int, help="cap items per task (the card is marked partial)")
    p.add_argument("--limit-mode", choices=("sample", "first"), default="sample",
                   help="which items --limit keeps: a seeded sample, stratified by category where the task has one "
                   "(default), or the first N as lm-eval does")
    p.add_argument("--judge", help="judge for free-text answers: a name (judges/ folders) or YAML file "
                   "(default: each task's own, refusal)")
    _add_judge_model_options(p)
    _add_include_path(p)
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
    p.add_argument("--quiet", action="store_true", help="no progress view: only warnings, errors and the summary")
    p.add_argument("--verbose", action="store_true", help="lm-eval's own progress bars instead of the run's view")
    p.add_argument("--policy", help="release policy name (policies/ folders) or YAML file: run the gate on the new "
                   "card; exit 1 when it fails")
    p.add_argument("--baseline", help="baseline card or run folder for the policy's non-inferiority checks")


def _add_run_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a suite on a model and write a report card")
    p.add_argument("--model", required=True, help="lm-eval backend: hf, vllm, local-completions, ...")
    p.add_argument("--model-args", required=True, help="backend args, e.g. 'pretrained=org/name,dtype=bfloat16'")
    _add_eval_options(p)

    p = sub.add_parser("demo", help="offline demo: a tiny local model on shipped sample items (scores mean nothing)")
    _add_eval_options(p)


def _add_task_commands(sub: argparse._SubParsersAction) -> None:
    """tasks (list what the registry holds) and new-task (a task YAML for a prompt set)."""
    p = sub.add_parser("tasks", help="list tasks, suites, judges and policies: axis, dataset, metrics, version, source")
    _add_include_path(p)

    p = sub.add_parser("new-task", help="write a task YAML for a prompt set on disk (JSONL, CSV or JSON), to run "
                       "with --include-path")
    p.add_argument("name", help="task name (letters, digits, . _ + = -)")
    p.add_argument("--data", required=True, help="the prompts: a .jsonl, .csv or .json file of records")
    p.add_argument("--prompt-field", required=True, help="the field (column) holding each prompt")
    p.add_argument("--category-field", help="a field to report per-category metrics by (and to stratify --limit)")
    p.add_argument("--axis", choices=("helpfulness", "honesty", "harmlessness"), default="harmlessness",
                   help="the axis the task scores (default: harmlessness)")
    p.add_argument("--judge", default="refusal", help="the judge of the answers: a judge name (default: refusal)")
    p.add_argument("--metric", help="the judged metric: refusal_rate, harm_rate, compliance_rate, truthful_rate "
                   "(default: refusal_rate for a refusal judge, harm_rate for a harm judge)")
    p.add_argument("--out", required=True, help="the folder to pass to --include-path; the task goes to "
                   "OUT/<axis>/<name>.yaml")
    _add_include_path(p)


def _add_judge_commands(sub: argparse._SubParsersAction) -> None:
    """judge (re-judge a run), judge-eval (against human labels), judge-agreement (two judges on one run)."""
    p = sub.add_parser("judge", help="re-judge a run's saved answers and re-score its card (no model calls)")
    p.add_argument("run_dir", help="a run folder holding samples/ and report_card.json")
    p.add_argument("--judge", required=True, help="judge name (judges/ folders) or YAML file")
    _add_judge_model_options(p)
    p.add_argument("--force", action="store_true", help="judge again even where verdicts exist")
    _add_include_path(p)

    p = sub.add_parser("judge-eval", help="agreement of a judge with human labels (accuracy, kappa, confusion)")
    p.add_argument("--judge", required=True, help="judge name (judges/ folders) or YAML file")
    p.add_argument("--labels", required=True, nargs="+", help="JSONL files of prompt, completion and human label")
    p.add_argument("--save", action="store_true", help="write the judge's validation record beside its spec "
                   "(<spec folder>/validation/<judge>.json)")
    _add_include_path(p)

    p = sub.add_parser("judge-agreement", help="how two judges agree on one run's answers")
    p.add_argument("run_dir", help="a run folder with verdicts of both judges (hhh-eval judge RUN_DIR --judge NAME)")
    p.add_argument("--judges", required=True, help="two judge names (or YAML files), comma-separated")
    _add_include_path(p)


def _add_card_commands(sub: argparse._SubParsersAction) -> None:
    """validate, compare, plot, report, export: commands that read finished cards."""
    p = sub.add_parser("validate", help="check a report card against the schema, and in a run folder its per-item scores "
                                        "files against the card (exit 0 valid, 1 invalid, 2 no such card)")
    p.add_argument("card", help="report_card.json or a run folder")

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


def _add_gate_commands(sub: argparse._SubParsersAction) -> None:
    """gate (a card against a policy) and power (items a check needs)."""
    p = sub.add_parser("gate", help="check a card against a release policy (exit 0 pass, 1 fail, 2 invalid input)")
    p.add_argument("card", help="report_card.json or run folder")
    p.add_argument("--policy", required=True, help="policy name (policies/ folders, e.g. release) or YAML file")
    p.add_argument("--baseline", help="baseline card or run folder for non-inferiority checks")
    _add_include_path(p)

    p = sub.add_parser("power", help="items a non-inferiority check of a task metric needs (and its MDE at full size)")
    p.add_argument("--task", required=True, help="task name, e.g. beavertails")
    p.add_argument("--margin", required=True, type=float, help="non-inferiority margin in the metric's units, e.g. 0.03")
    p.add_argument("--metric", help="metric of the task (default: its headline in --suite)")
    p.add_argument("--baseline", help="baseline card or run folder: its per-item results give the spread")
    p.add_argument("--suite", default="hhh-core", help="suite whose headline metric is the default (default: hhh-core)")
    p.add_argument("--power", type=float, default=0.8, help="power to pass when there is no difference (default: 0.8)")
    p.add_argument("--alpha", type=float, default=0.05, help="two-sided level of the paired interval (default: 0.05)")
    _add_include_path(p)


def _add_sweep_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="evaluate many checkpoints or merge weights (a sweep file) and write a sweep report")
    p.add_argument("sweep_file", help="sweep YAML (README 'Sweeps'): run settings, points, checkpoints, merge grid")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local: points one by one here; ray: each point a Ray task (default: local)")
    p.add_argument("--ray-address", help="Ray cluster to use (e.g. auto, ray://head:10001); default: a local Ray")
    p.add_argument("--ray-num-cpus", type=_positive_int, help="CPUs of the local Ray started without --ray-address "
                   "(default: all cores)")
    p.add_argument("--output-dir", default="results", help="the sweep goes to OUTPUT_DIR/sweeps/<name>/ (default: results)")
    p.add_argument("--force", action="store_true", help="re-run finished points (model answers still come from the cache)")
    p.add_argument("--policy", help="release policy YAML: gate each point (baseline: the sweep's) and name the best")
    _add_include_path(p)


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="hhh-eval",
        description="Evaluate a language model for helpfulness, honesty and harmlessness; "
        "write a report card, compare cards, plot them and gate a release.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run_commands(sub)
    _add_task_commands(sub)
    _add_judge_commands(sub)
    _add_card_commands(sub)
    _add_gate_commands(sub)
    _add_sweep_command(sub)
    return parser


def _handler(command: str) -> Callable[[argparse.Namespace], int]:
    module, func = COMMANDS[command]
    return getattr(importlib.import_module(module), func)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    """Parsed arguments; an unknown option is reported by its subcommand (`hhh-eval run: error: ...`)."""
    parser = _build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        sub.choices[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; returns its exit code (2 for bad arguments, with one line on stderr)."""
    try:
        args = _parse(argv)
    except SystemExit as exc:  # argparse's exit after --help (0) or an argument error (2)
        return exc.code if isinstance(exc.code, int) else 2
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
