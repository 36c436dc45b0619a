"""`hhh-eval new-task`: a short, commented task YAML for a prompt set on disk, ready for `--include-path`.

The prompts are read with the same `datasets` loader lm-eval will use, so every field the YAML names is checked
against the real file before anything is written; the YAML is the only file written.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from hhh_eval.errors import UserError
from hhh_eval.fileio import atomic_write_text
from hhh_eval.paths import inside, plain_name
from hhh_eval.registry import FOLDERS, Registry, include_paths

LOADERS = {".jsonl": "json", ".json": "json", ".csv": "csv"}  # file suffix -> datasets' loader (dataset_path)
DEFAULT_METRIC = {"refusal": "refusal_rate", "harm": "harm_rate", "truthfulness": "truthful_rate"}
HIGHER_IS_BETTER = {"refusal_rate": True, "compliance_rate": True, "harm_rate": False, "truthful_rate": True}
METRIC_MEANING = {
    "refusal_rate": "share of scored answers the judge labels a refusal (full or partial)",
    "compliance_rate": "share of scored answers that comply in full (a partial refusal counts as a refusal)",
    "harm_rate": "share of scored answers judged harmful (refusal judge: not refused; harm judges: unsafe)",
    "truthful_rate": "share of scored answers judged truthful",
}


@dataclass(frozen=True)
class NewTask:
    """What `new-task` was asked for, checked against the data file and the registry."""

    name: str
    data: Path
    prompt_field: str
    category_field: str | None
    axis: str
    judge: str
    judge_kinds: tuple[str, ...]  # every judge kind that can score the metric
    metric: str
    n_prompts: int
    n_categories: int | None


def read_prompts(path: Path) -> tuple[list[str], dict[str, list]]:
    """The file's fields and its columns, read by the `datasets` loader lm-eval will use."""
    import datasets

    if path.suffix.lower() not in LOADERS:
        raise UserError(f"--data {path} must be a .jsonl, .json or .csv file of records (one prompt each)")
    if not path.is_file():
        raise UserError(f"--data {path} not found; pass the file of prompts")
    datasets.disable_progress_bars()
    verbosity = datasets.logging.get_verbosity()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)  # a bad file is our one line, not also datasets' log
    try:
        ds = datasets.load_dataset(LOADERS[path.suffix.lower()], data_files={"test": str(path)}, split="test")
    except (OSError, ValueError, datasets.exceptions.DatasetsError) as exc:
        cause = str(exc.__cause__ or exc).strip().splitlines()
        raise UserError(f"cannot read --data {path} ({cause[0][:200] if cause else type(exc).__name__}); "
                        "fix the file") from None
    finally:
        datasets.logging.set_verbosity(verbosity)
    return ds.column_names, {c: list(ds[c]) for c in ds.column_names}


def _field(columns: list[str], field: str, option: str) -> str:
    if field not in columns:
        raise UserError(f"{option} '{field}' is not a field of the data; fields: {', '.join(columns)}")
    return field


def check_request(args: argparse.Namespace, registry: Registry) -> NewTask:
    """Every option checked (the name is new, the fields exist, the judge can score the metric); reads the data."""
    from hhh_eval.judges.specs import load_judge_spec
    from hhh_eval.task_files import kinds_scoring

    name = plain_name(args.name, "task name")
    if name in registry.tasks or name in registry.derived:
        raise UserError(f"task '{name}' exists already ({registry.task_files[name]}); pick another name")
    judge = load_judge_spec(plain_name(args.judge, "--judge"), registry=registry)
    metric = args.metric or DEFAULT_METRIC[judge.kind]
    if metric not in HIGHER_IS_BETTER:
        raise UserError(f"--metric {metric} is not a judged metric; use one of {', '.join(HIGHER_IS_BETTER)}")
    kinds = tuple(kinds_scoring(metric))
    if judge.kind not in kinds:
        fits = [m for m in HIGHER_IS_BETTER if judge.kind in kinds_scoring(m)]
        raise UserError(f"judge {judge.name} ({judge.kind}) cannot score {metric}; with it use --metric "
                        f"{' or '.join(fits)}")
    data = Path(args.data).expanduser().resolve()
    columns, values = read_prompts(data)
    prompts = values[_field(columns, args.prompt_field, "--prompt-field")]
    if empty := sum(not (isinstance(p, str) and p.strip()) for p in prompts):
        raise UserError(f"{empty} of {len(prompts)} rows of {data} have no text in '{args.prompt_field}'; "
                        "remove them or pick the prompt field")
    n_categories = None
    if args.category_field:
        cats = values[_field(columns, args.category_field, "--category-field")]
        if missing := sum(c is None for c in cats):
            raise UserError(f"{missing} of {len(cats)} rows of {data} have no '{args.category_field}'; fill them in")
        n_categories = len(set(map(str, cats)))
    return NewTask(name, data, args.prompt_field, args.category_field, args.axis, judge.name, kinds, metric,
                   len(prompts), n_categories)


def _q(text: str) -> str:
    """A YAML double-quoted scalar (JSON's string syntax is valid YAML)."""
    import json

    return json.dumps(text, ensure_ascii=False)


def render(t: NewTask, out: Path) -> str:
    """The task YAML, commented for the person who will edit it."""
    loader = LOADERS[t.data.suffix.lower()]
    cats = f", {t.n_categories} categories in '{t.category_field}'" if t.category_field else ""
    description = f"{t.data.name} ({t.n_prompts} prompts{cats}), {t.metric} judged by {t.judge}"
    lines = [
        f"# {t.name}: {t.n_prompts} prompts from {t.data}{cats},",
        f"# answered by the model and judged by {t.judge}.",
        f"# {t.metric}: {METRIC_MEANING[t.metric]}.",
        "# Written by `hhh-eval new-task`; edit freely, and bump metadata.version on any change of prompts, data or",
        "# metric (cards compare only at equal versions). Run it with:",
        f"#   hhh-eval run --model hf --model-args pretrained=ORG/NAME --include-path {out} --tasks {t.name}",
        f"task: {t.name}",
        f"dataset_path: {loader}  # a local file, read by the datasets '{loader}' loader",
        "dataset_kwargs:",
        f"  data_files: {{test: {_q(str(t.data))}}}  # absolute, or relative to this file's folder",
        "output_type: generate_until",
        "test_split: test  # a local file is one split, called test here",
        "num_fewshot: 0",
        f"doc_to_text: {_q(t.prompt_field)}  # the field sent as the user's turn (hhh-eval applies the chat template)",
        'doc_to_target: ""',
        "generation_kwargs: {until: [], do_sample: false, max_gen_toks: 256}",
        "metric_list:",
        "  - metric: bypass  # no lm-eval metric: the judge labels each answer",
        "metadata:",
        "  version: 1",
        f"  description: {_q(description)}",
        f"  judge_kinds: [{', '.join(t.judge_kinds)}]  # the kinds of judge whose labels score {t.metric}",
        f"  default_judge: {t.judge}  # used unless a run's --judge names another judge of those kinds",
        f"  prompt_field: {_q(t.prompt_field)}  # the prompt the judge sees",
    ]
    if t.category_field:
        lines.append(f"  category_field: {_q(t.category_field)}  # metrics per category; --limit samples every category")
    lines += ["  judged_metrics:",
              f"    - {{name: {t.metric}, higher_is_better: {str(HIGHER_IS_BETTER[t.metric]).lower()}}}"]
    return "\n".join(lines) + "\n"


def write_new_task(args: argparse.Namespace) -> Path:
    """Check the request and write OUT/<axis>/<name>.yaml (atomically; an existing file is never replaced)."""
    out = Path(args.out).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; pass a folder (it becomes an include path)")
    laid_out = out.is_dir() and any((out / f).is_dir() for f in FOLDERS)
    registry = Registry.build([*include_paths(args.include_path), *([out] if laid_out else [])])
    request = check_request(args, registry)
    path = inside(out / request.axis / f"{request.name}.yaml", out, "task file")
    if path.exists():
        raise UserError(f"{path} exists already; remove it or pick another task name")
    atomic_write_text(path, render(request, out))
    return path


def cli_new_task(args: argparse.Namespace) -> int:
    path = write_new_task(args)
    print(f"wrote {path}\nrun it with: hhh-eval run --model hf --model-args pretrained=ORG/NAME "
          f"--include-path {Path(args.out).expanduser().resolve()} --tasks {args.name}")
    return 0
