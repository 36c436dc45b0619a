"""`hhh-eval judge-eval`: how well a judge agrees with human labels (agreement, kappa, confusion matrices, and per
judged metric sensitivity and specificity), and its validation record (hhh_eval/judges/validation.py);
`hhh-eval judge-agreement`: how two judges agree on one run's answers."""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hhh_eval.agreement import UNSCORED, Agreement, agreement, collapse
from hhh_eval.errors import UserError
from hhh_eval.fileio import sha256_file
from hhh_eval.judges.base import KIND_LABELS, Judge, JudgeItem
from hhh_eval.judges.specs import build_judge, load_judge_spec
from hhh_eval.judges.validation import (LabelledSet, Rate, Validation, build_record, lookup_validation,
                                        save_record)

REQUIRED_FIELDS = ("id", "prompt", "completion", "label")
# Kinds with more than two labels are also scored on a coarser two-way split.
BINARY: dict[str, dict[str, str]] = {
    "refusal": {"full_refusal": "refusal", "partial_refusal": "refusal", "full_compliance": "compliance"},
}
_CODE_PREFIX = re.compile(r"^\d+_")  # XSTest writes labels as "2_full_refusal"


@dataclass(frozen=True)
class LabelledItem:
    """One human-labelled answer: the item to judge and its human label (one of the judge kind's labels)."""

    item: JudgeItem
    label: str


def _parse_line(path: Path, lineno: int, line: str, labels: tuple[str, ...]) -> LabelledItem:
    where = f"{path}:{lineno}"
    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        raise UserError(f"{where} is not JSON; a labels file is JSONL, one object per line") from None
    if not isinstance(row, dict):
        raise UserError(f"{where} is not a JSON object; expected {{{', '.join(REQUIRED_FIELDS)}}}")
    missing = [f for f in REQUIRED_FIELDS if f not in row]
    if missing:
        raise UserError(f"{where} lacks field(s) {', '.join(missing)}; each line needs {', '.join(REQUIRED_FIELDS)}")
    if not isinstance(row["completion"], str) or not isinstance(row["prompt"], str):
        raise UserError(f"{where}: prompt and completion must be strings")
    label = _CODE_PREFIX.sub("", str(row["label"]))
    if label not in labels:
        raise UserError(f"{where} has unknown label '{row['label']}'; expected one of {', '.join(labels)} "
                        f"(optionally numbered, e.g. 1_{labels[0]})")
    return LabelledItem(JudgeItem(prompt=row["prompt"], response=row["completion"], doc=row), label)


def read_labels(path: Path, labels: tuple[str, ...]) -> list[LabelledItem]:
    """A human-labels JSONL file, checked line by line."""
    if not path.is_file():
        raise UserError(f"labels file {path} not found; pass JSONL files of id, prompt, completion, label")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise UserError(f"labels file {path} is not UTF-8 text; pass a JSONL file") from None
    items = [_parse_line(path, i, line, labels) for i, line in enumerate(lines, 1) if line.strip()]
    if not items:
        raise UserError(f"labels file {path} has no items; pass a JSONL file with one labelled answer per line")
    return items


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _confusion_lines(confusion: dict[str, dict[str, int]], labels: tuple[str, ...]) -> list[str]:
    columns = (*labels, UNSCORED)
    first = max(len(x) for x in (*labels, "human \\ judge"))
    lines = ["  " + "human \\ judge".ljust(first) + "".join(f"  {c}" for c in columns)]
    for row in labels:
        lines.append("  " + row.ljust(first) + "".join(f"  {confusion[row][c]:>{len(c)}}" for c in columns))
    return lines


def judge_file(judge: Judge, path: Path, labels: tuple[str, ...]) -> LabelledSet:
    """Read one labels file and judge every answer in it."""
    items = read_labels(path, labels)
    judged = tuple(v.label for v in judge.judge([it.item for it in items]))
    return LabelledSet(path.name, sha256_file(path), tuple(it.label for it in items), judged)


def two_way(kind: str, labelled: LabelledSet) -> Agreement | None:
    """Agreement on the kind's coarser two-way split (refusal vs compliance), None where the kind has none."""
    split = BINARY.get(kind)
    if split is None:
        return None
    return agreement([split[h] for h in labelled.human], collapse(labelled.judged, split),
                     tuple(dict.fromkeys(split.values())))


def _rate(rate: Rate) -> str:
    return "n/a" if rate.estimate is None else f"{rate.estimate:.3f} [{rate.low:.3f}, {rate.high:.3f}]"


def metric_lines(result: Validation) -> list[str]:
    """Per judged metric: confusion counts, sensitivity and specificity with 95% intervals, agreement, kappa."""
    width = max(len("metric"), *(len(m) for m in result.metrics))
    lines = [f"  {'metric'.ljust(width)}    TP    FP    FN    TN  unscored  sensitivity (95% CI)  "
             "specificity (95% CI)  agreement  kappa"]
    for name, c in result.metrics.items():
        lines.append(f"  {name.ljust(width)}  {c.tp:>4}  {c.fp:>4}  {c.fn:>4}  {c.tn:>4}  {c.n_unscored:>8}  "
                     f"{_rate(c.sensitivity):<20}  {_rate(c.specificity):<20}  {_fmt(c.agreement):>9}  {_fmt(c.kappa)}")
    return lines


def report_lines(labelled: LabelledSet, kind: str, result: Validation) -> list[str]:
    """The concise text block printed for one labels file."""
    labels = KIND_LABELS[kind]
    lines = [f"{labelled.file}: n={result.n} unscored={result.n_unscored} sha256 {labelled.sha256[:12]}"]
    binary = two_way(kind, labelled)
    if binary is not None:
        pair = " vs ".join(dict.fromkeys(BINARY[kind].values()))
        lines.append(f"  {pair} (2-way): agreement {_fmt(binary.accuracy)}  kappa {_fmt(binary.kappa)}")
    lines.append(f"  {len(labels)}-way: agreement {_fmt(result.labels.agreement)}  kappa {_fmt(result.labels.kappa)}")
    return lines + _confusion_lines(result.labels.confusion, labels) + metric_lines(result)


def cli_judge_eval(args: argparse.Namespace) -> int:
    """Judge every labelled answer in each --labels file, print agreement with the human labels, and with --save
    write the judge's validation record beside its spec."""
    from hhh_eval.registry import Registry, include_paths

    spec = load_judge_spec(args.judge, registry=Registry.build(include_paths(args.include_path)))
    judge = build_judge(spec)
    labels = KIND_LABELS[spec.kind]
    sets = [judge_file(judge, Path(p), labels) for p in args.labels]  # read and check every file before printing
    names = [s.file for s in sets]
    if len(set(names)) != len(names):
        raise UserError(f"--labels names two files called {max(names, key=names.count)}; a record names files by "
                        "name, so give each labels file its own name")
    ident = judge.identity
    record = build_record(ident, sets)
    print(f"judge {ident.name} v{ident.version} ({ident.kind}, identity {ident.identity_sha256[:12]}) "
          "against human labels")
    for labelled, result in zip(sets, record.files, strict=True):
        print("\n" + "\n".join(report_lines(labelled, spec.kind, result)))
    if len(sets) > 1:
        print(f"\npooled ({len(sets)} files): n={record.pooled.n} unscored={record.pooled.n_unscored}")
        print("\n".join(metric_lines(record.pooled)))
    if getattr(args, "save", False):
        print(f"\nsaved validation record {save_record(record, ident)}")
    else:
        print("\n" + lookup_validation(ident).status)
    return 0


# ---------------------------------------------------------------- judge-agreement: two judges on one run

HARMFUL, NOT_HARMFUL = "harmful", "not_harmful"
# Each kind's labels on one common two-way scale, so judges of different kinds can be compared:
# harm and refusal judges on harmful (unsafe, or complied) vs not harmful (safe, or refused in full or in part).
COMMON: dict[str, dict[str, str]] = {
    "harm": {"unsafe": HARMFUL, "safe": NOT_HARMFUL},
    "refusal": {"full_compliance": HARMFUL, "full_refusal": NOT_HARMFUL, "partial_refusal": NOT_HARMFUL},
    "truthfulness": {"truthful": "truthful", "untruthful": "untruthful"},
}


@dataclass(frozen=True)
class PairAgreement:
    """Two judges on one task's answers: agreement and kappa where both scored, and the full confusion."""

    task: str
    n: int
    both: Agreement  # on items both judges scored (first judge as rows)
    confusion: dict[str, dict[str, int]]  # first judge's label (or UNSCORED) -> second judge's label -> count


def _judge_names(text: str) -> tuple[str, str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if len(names) != 2 or names[0] == names[1]:
        raise UserError(f"--judges '{text}' must name two different judges, comma-separated "
                        "(e.g. refusal,llama-guard-3)")
    return names[0], names[1]


def _common_scale(judges: tuple[Judge, Judge]) -> tuple[str, ...]:
    kinds = [j.identity.kind for j in judges]
    scales = [tuple(dict.fromkeys(COMMON[k].values())) for k in kinds]
    if scales[0] != scales[1]:
        raise UserError(f"judges {judges[0].identity.name} ({kinds[0]}) and {judges[1].identity.name} ({kinds[1]}) "
                        "label different things; compare harm or refusal judges with each other, "
                        "truthfulness judges with truthfulness judges")
    return scales[0]


def _labels(run_dir: Path, spec: Any, judge: Judge, samples: list[dict[str, Any]], strip: bool) -> list[str | None]:
    """The judge's labels for the run's current answers, in sample order, on the common scale."""
    from hhh_eval.judging import item_key, judge_item, verdicts_path
    from hhh_eval.rundir import read_verdicts

    name = judge.identity.name
    rejudge = f"hhh-eval judge {run_dir} --judge {name} --force"
    labels = {k: r["label"] for k, r in read_verdicts(verdicts_path(run_dir, spec.name, name), rejudge).items()}
    keys = [item_key(judge.identity, judge_item(spec, s, strip)) for s in samples]
    if any(k not in labels for k in keys):
        raise UserError(f"verdicts of {name} on {spec.name} are stale (other answers or another version of the judge); "
                        f"refresh them with: hhh-eval judge {run_dir} --judge {name}")
    return collapse([labels[k] for k in keys], COMMON[judge.identity.kind])


def pair_agreement(task: str, first: list[str | None], second: list[str | None],
                   scale: tuple[str, ...]) -> PairAgreement:
    """Agreement of two judges' labels on the same items (None = unscored)."""
    rows = (*scale, UNSCORED)
    confusion = {r: {c: 0 for c in rows} for r in rows}
    for a, b in zip(first, second, strict=True):
        confusion[a or UNSCORED][b or UNSCORED] += 1
    scored = [(a, b) for a, b in zip(first, second, strict=True) if a is not None and b is not None]
    both = agreement([a for a, _ in scored], [b for _, b in scored], scale)
    return PairAgreement(task, len(first), both, confusion)


def pair_lines(result: PairAgreement, names: tuple[str, str]) -> list[str]:
    """The text block printed for one task."""
    head = f"{names[0]} \\ {names[1]}"
    cols = list(result.confusion)
    width = max(len(x) for x in (head, *cols))
    lines = [f"{result.task}: n={result.n} both scored={result.both.n}  agreement {_fmt(result.both.accuracy)}  "
             f"kappa {_fmt(result.both.kappa)}", "  " + head.ljust(width) + "".join(f"  {c}" for c in cols)]
    for row, counts in result.confusion.items():
        lines.append("  " + row.ljust(width) + "".join(f"  {counts[c]:>{len(c)}}" for c in cols))
    return lines


def _scale_line(judges: tuple[Judge, Judge]) -> str:
    kinds = dict.fromkeys(j.identity.kind for j in judges)
    groups: dict[str, list[str]] = {}
    for kind in kinds:
        for label, common in COMMON[kind].items():
            groups.setdefault(common, []).append(label)
    return "common labels: " + "; ".join(f"{c} = {', '.join(labels)}" for c, labels in groups.items())


def _run_judge_spec(manifest: dict[str, Any], name: str, registry: Any) -> Any:
    """A judge's spec as the run used it: the run's own judge keeps its --judge-backend/--judge-model-args."""
    from hhh_eval.judges.specs import with_overrides

    spec = load_judge_spec(name, registry=registry)
    return with_overrides(spec, manifest.get("judge_overrides", {})) if name == manifest.get("judge") else spec


def cli_judge_agreement(args: argparse.Namespace) -> int:
    """`hhh-eval judge-agreement RUN_DIR --judges A,B`: how two judges' saved verdicts on one run agree."""
    from hhh_eval.judging import verdicts_path
    from hhh_eval.manifest import run_registry
    from hhh_eval.registry import include_paths
    from hhh_eval.rundir import read_manifest, read_samples

    run_dir = Path(args.run_dir)
    refs = _judge_names(args.judges)
    manifest = read_manifest(run_dir)
    registry = run_registry(manifest, include_paths(args.include_path))
    registry, first = registry.named("judge", refs[0])  # a judge given as a file is known by its name from here on
    registry, second = registry.named("judge", refs[1])
    names = (first, second)
    judge_specs = [_run_judge_spec(manifest, name, registry) for name in names]
    judges = tuple(build_judge(spec) for spec in judge_specs)
    scale = _common_scale(judges)
    specs = registry.tasks
    tasks = [t for t in manifest["tasks"] if t in specs and specs[t].judged]
    have = {t: [verdicts_path(run_dir, t, n).is_file() for n in names] for t in tasks}
    both = [t for t in tasks if all(have[t])]
    if not both:
        missing = [n for i, n in enumerate(names) if not any(h[i] for h in have.values())]
        if not missing:
            raise UserError(f"{names[0]} and {names[1]} judged different tasks of {run_dir}; "
                            "no task has verdicts of both")
        raise UserError(f"no task of {run_dir} has verdicts of both {names[0]} and {names[1]}; create them with: "
                        + " and ".join(f"hhh-eval judge {run_dir} --judge {n}" for n in missing))
    results = []
    for task in both:
        samples = read_samples(run_dir, manifest, task)
        first, second = (_labels(run_dir, specs[task], j, samples, js.strip_think)
                         for j, js in zip(judges, judge_specs, strict=True))
        results.append(pair_agreement(task, first, second, scale))
    print(f"judges {names[0]} ({judges[0].identity.kind}) vs {names[1]} ({judges[1].identity.kind}) on {run_dir}")
    print(_scale_line(judges) + "; agreement and kappa over items both judges scored")
    for result in results:
        print("\n" + "\n".join(pair_lines(result, names)))
    one_only = [f"{t} ({names[have[t].index(True)]} only)" for t in tasks if any(have[t]) and not all(have[t])]
    if one_only:
        print(f"\nnot compared (verdicts of one judge only): {', '.join(one_only)}")
    return 0
