"""The registry: every task, derived task, suite, judge and policy a command can use, with where each came from.

Definitions come from the shipped tasks folder (inside the installed package, or the checkout's tasks/) and from
the user's include paths (`--include-path DIR`, repeatable, then `HHH_EVAL_INCLUDE_PATH=DIR1:DIR2`), each laid
out like tasks/: axis folders of task YAMLs, derived/, suites/, judges/, policies/. A name defined twice is an
error naming both files. Suites, judges and policies can also be given as a file path (a value ending in .yaml
or .yml, or holding a '/'); their names still must be plain names, since they name run folders and files.
A command builds one Registry (Registry.build) and passes it down.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from hhh_eval.card.models import AXES, Axis
from hhh_eval.errors import UserError
from hhh_eval.fileio import dumps, sha256_file, sha256_text
from hhh_eval.paths import plain_name
from hhh_eval.task_files import (
    DerivedSpec,
    Frozen,
    MetricSpec,
    SuiteEntry,
    SuiteSpec,
    TaskSpec,
    derived_from_yaml,
    find_metric,
    resolved_config,
    suite_from_yaml,
    task_from_yaml,
)

__all__ = ["AXES", "Axis", "DerivedSpec", "MetricSpec", "Registry", "Source", "SuiteEntry", "SuiteSpec", "TaskSpec",
           "find_metric", "include_paths", "load_derived", "load_suite", "load_tasks", "tasks_dir"]

INCLUDE_PATH_ENV = "HHH_EVAL_INCLUDE_PATH"
DEFAULT_SUITE = "hhh-core"
ADHOC_SUITE = "custom"  # the suite of a run whose --tasks are not all in hhh-core (and no --suite was given)
Kind = Literal["suite", "judge", "policy"]
KIND_FOLDERS: dict[Kind, str] = {"suite": "suites", "judge": "judges", "policy": "policies"}
FOLDERS = (*AXES, "derived", *KIND_FOLDERS.values())


def tasks_dir() -> Path:
    """The shipped tasks folder: inside the installed package (hhh_eval/tasks), else the checkout's tasks/."""
    here = Path(__file__).resolve().parent
    for path in (here / "tasks", here.parent / "tasks"):
        if path.is_dir():
            return path
    raise UserError(f"the shipped tasks folder is missing (looked for {here / 'tasks'} and {here.parent / 'tasks'}); "
                    "reinstall hhh-eval")


def include_paths(cli: Sequence[str] | None = ()) -> tuple[Path, ...]:
    """The --include-path folders, then those in HHH_EVAL_INCLUDE_PATH (separated by os.pathsep), resolved."""
    env = [p for p in os.environ.get(INCLUDE_PATH_ENV, "").split(os.pathsep) if p.strip()]
    return tuple(dict.fromkeys(Path(p).expanduser().resolve() for p in [*(cli or ()), *env]))


def is_path_ref(ref: str) -> bool:
    """Whether a --suite/--judge/--policy value names a file rather than a registered name."""
    return ref.endswith((".yaml", ".yml")) or "/" in ref or os.sep in ref


class Source(Frozen):
    """Where a definition came from: the shipped folder, an include path, a file given by path, or made ad hoc."""

    origin: Literal["shipped", "include_path", "file", "adhoc"]
    include_path: str | None = None  # origin include_path: the folder
    path: str | None = None  # relative to its folder (shipped, include_path), absolute (file)
    sha256: str | None = None  # task: of its resolved config and hooks; suite, judge: of the file


def _check_include_path(path: Path) -> None:
    if not path.is_dir():
        raise UserError(f"include path {path} is not a folder; pass a folder laid out like tasks/ "
                        f"({', '.join(f + '/' for f in FOLDERS)})")
    if not any((path / f).is_dir() for f in FOLDERS):
        raise UserError(f"include path {path} has none of the folders {', '.join(f + '/' for f in FOLDERS)}; put "
                        "task YAMLs in an axis folder (e.g. DIR/harmlessness/my_task.yaml)")


def _add(found: dict[str, Path], what: str, name: str, path: Path) -> None:
    if name in found:
        raise UserError(f"{what} '{name}' is defined twice: {found[name]} and {path}; rename one")
    found[name] = path


@dataclass(frozen=True)
class Registry:
    """Tasks and derived tasks (parsed and checked), and suite, judge and policy files, by name."""

    shipped: Path
    include_paths: tuple[Path, ...]
    tasks: Mapping[str, TaskSpec]
    derived: Mapping[str, DerivedSpec]
    task_files: Mapping[str, Path]  # task and derived task name -> its file
    files: Mapping[Kind, Mapping[str, Path]]  # suite, judge and policy name -> its file

    @classmethod
    def build(cls, include: Sequence[Path] = ()) -> Registry:
        """The shipped definitions plus those under each include path; every task file is read and checked."""
        shipped = tasks_dir()
        roots = [shipped, *dict.fromkeys(p.expanduser().resolve() for p in include if p.resolve() != shipped)]
        for root in roots[1:]:
            _check_include_path(root)
        task_files: dict[str, Path] = {}
        tasks: dict[str, TaskSpec] = {}
        derived: dict[str, DerivedSpec] = {}
        files: dict[Kind, dict[str, Path]] = {kind: {} for kind in KIND_FOLDERS}
        for root in roots:
            for axis in AXES:
                for path in sorted((root / axis).glob("*.yaml")):
                    spec = task_from_yaml(path, axis)  # type: ignore[arg-type]
                    _add(task_files, "task", spec.name, path)
                    tasks[spec.name] = spec
            for path in sorted((root / "derived").glob("*.yaml")):
                d = derived_from_yaml(path)
                _add(task_files, "task", d.name, path)
                derived[d.name] = d
            for kind, folder in KIND_FOLDERS.items():
                for path in sorted((root / folder).glob("*.yaml")):
                    _add(files[kind], kind, plain_name(path.stem, f"{kind} file name {path}"), path)
        registry = cls(shipped, tuple(roots[1:]), tasks, derived, task_files, files)
        registry._check_links()
        return registry

    def _check_links(self) -> None:
        """Derived tasks' sources are tasks; each default judge exists and is of a kind its task accepts."""
        from hhh_eval.judges.specs import load_judge_spec

        for d in self.derived.values():
            if missing := [s for s in d.sources if s not in self.tasks]:
                raise UserError(f"derived task {d.name} needs unknown task(s) {', '.join(missing)}")
        kinds: dict[str, str] = {}  # judge -> its kind, each judge file read once
        for spec in self.tasks.values():
            if spec.default_judge is None:
                continue
            if spec.default_judge not in self.files["judge"]:
                raise UserError(f"task {spec.name} ({spec.yaml_path}): default_judge '{spec.default_judge}' is not a "
                                f"judge; known judges: {', '.join(sorted(self.files['judge']))}")
            if spec.default_judge not in kinds:
                kinds[spec.default_judge] = load_judge_spec(spec.default_judge, registry=self).kind
            kind = kinds[spec.default_judge]
            if kind not in spec.judge_kinds:
                raise UserError(f"task {spec.name} ({spec.yaml_path}): default_judge {spec.default_judge} is a {kind} "
                                f"judge, but judge_kinds is {', '.join(spec.judge_kinds)}")

    # ------------------------------------------------------------ lookups

    def names(self, kind: Kind) -> list[str]:
        return sorted(self.files[kind])

    def file(self, kind: Kind, ref: str) -> Path:
        """The file a name (looked up) or a path (checked to exist) stands for."""
        known = f"known {KIND_FOLDERS[kind]}: {', '.join(self.names(kind)) or '(none)'}"
        if is_path_ref(ref):
            path = Path(ref).expanduser().resolve()
            if not path.is_file():
                raise UserError(f"{kind} file {ref} not found; pass an existing YAML file or a {kind} name ({known})")
            plain_name(path.stem, f"{kind} file name {path}")
            return path
        if ref not in self.files[kind]:
            if Path(ref).is_file():  # a file named without .yaml and without a folder reads as a name
                raise UserError(f"unknown {kind} '{ref}'; {known}; to use the file {ref}, pass it as ./{ref} (a file "
                                "path ends in .yaml or .yml or holds a '/')")
            raise UserError(f"unknown {kind} '{ref}'; {known} (or pass a file path)")
        return self.files[kind][ref]

    def named(self, kind: Kind, ref: str) -> tuple[Registry, str]:
        """The name `ref` stands for, and a registry that resolves that name (a file path is added by its name, which
        must not be taken: a run refers to its suite and judges by name from here on)."""
        path = self.file(kind, ref)
        name = path.stem if is_path_ref(ref) else ref
        other = self.files[kind].get(name)
        if other is None:
            return replace(self, files={**self.files, kind: {**self.files[kind], name: path}}), name
        if other.resolve() != path.resolve():
            raise UserError(f"{kind} '{name}' is defined twice: {other} and {path}; rename one")
        return self, name

    def task(self, name: str) -> TaskSpec | DerivedSpec:
        spec = self.tasks.get(name) or self.derived.get(name)
        if spec is None:
            raise UserError(f"unknown task '{name}'; known tasks: {', '.join(sorted({**self.tasks, **self.derived}))}")
        return spec

    def root_of(self, path: Path) -> Path | None:
        """The folder (shipped or an include path) a definition file lies in; None for a file given by path."""
        return next((root for root in (self.shipped, *self.include_paths) if path.is_relative_to(root)), None)

    def source(self, path: Path, sha256: str | None = None) -> Source:
        """Where a definition file came from (shipped, which include path, or a file given by path)."""
        sha, root = sha256 or sha256_file(path), self.root_of(path)
        if root is None:
            return Source(origin="file", path=str(path), sha256=sha)
        if root == self.shipped:
            return Source(origin="shipped", path=path.relative_to(root).as_posix(), sha256=sha)
        return Source(origin="include_path", include_path=str(root), path=path.relative_to(root).as_posix(), sha256=sha)

    def task_source(self, name: str) -> Source:
        """A task's source; its sha256 is of the resolved config with each hook's code hash (see resolved_config)."""
        spec, path = self.task(name), self.task_files[name]
        config = resolved_config(path) if isinstance(spec, TaskSpec) else spec.model_dump(mode="json")
        return self.source(path, sha256_text(dumps(config)))

    # ------------------------------------------------------------ suites

    def suite(self, ref: str) -> SuiteSpec:
        """A suite by name or path, checked against the tasks it names."""
        path = self.file("suite", ref)
        suite = suite_from_yaml(path)
        for axis, entries in suite.axes.items():
            for entry in entries:
                self._check_entry(suite.name, suite.task_names, axis, entry)
        return suite

    def _check_entry(self, suite: str, members: list[str], axis: str, entry: SuiteEntry) -> None:
        known = {**self.tasks, **self.derived}
        spec = known.get(entry.task)
        if spec is None:
            raise UserError(f"suite {suite} names unknown task '{entry.task}'; known tasks: {', '.join(sorted(known))}")
        spec.metric(entry.metric)
        if entry.fallback_metric:
            spec.metric(entry.fallback_metric)
        if spec.axis != axis:
            raise UserError(f"suite {suite} puts task {entry.task} under {axis} but it belongs to {spec.axis}")
        if missing := [s for s in getattr(spec, "sources", ()) if s not in members]:
            raise UserError(f"suite {suite}: derived task {entry.task} needs {', '.join(missing)} in the suite too")

    def adhoc_suite(self, names: Sequence[str]) -> SuiteSpec:
        """A suite of just these tasks (plus derived tasks' sources): a task of hhh-core keeps its entry there
        (headline, weight), any other has its first metric as headline and weight 1. Its version is a hash of its
        entries, so runs of the same tasks compare."""
        wanted = list(dict.fromkeys(s for n in names for s in (*getattr(self.task(n), "sources", ()), n)))
        core = {e.task: e for entries in self.suite(DEFAULT_SUITE).axes.values() for e in entries}
        axes: dict[str, list[SuiteEntry]] = {}
        for name in wanted:
            spec = self.task(name)
            entry = core.get(name) or SuiteEntry(task=name, metric=spec.metrics[0].name, weight=1)
            axes.setdefault(spec.axis, []).append(entry)
        ordered = {axis: tuple(sorted(axes[axis], key=lambda e: e.task)) for axis in AXES if axis in axes}
        version = sha256_text(dumps({a: [e.model_dump() for e in es] for a, es in ordered.items()}))[:12]
        return SuiteSpec(name=ADHOC_SUITE, version=version, axes=ordered,  # type: ignore[arg-type]
                         description="the tasks named by --tasks, outside any suite")

    def select(self, suite_ref: str | None, only: Sequence[str] | None) -> tuple[SuiteSpec, list[str]]:
        """The run's suite and tasks: the suite (default hhh-core) or the subset of it --tasks names. --tasks that
        are not all in hhh-core, without --suite, make an ad-hoc suite of just those tasks."""
        if suite_ref is None and only:
            if unknown := [t for t in only if t not in self.tasks and t not in self.derived]:
                raise UserError(f"unknown task(s) {', '.join(unknown)}; known tasks: "
                                f"{', '.join(sorted({**self.tasks, **self.derived}))}")
            if not set(only) <= set(self.suite(DEFAULT_SUITE).task_names):
                suite = self.adhoc_suite(only)
                return suite, suite.task_names
        suite = self.suite(suite_ref or DEFAULT_SUITE)
        if not only:
            return suite, suite.task_names
        if unknown := [t for t in only if t not in suite.task_names]:
            raise UserError(f"unknown task(s) {', '.join(unknown)} for suite {suite.name}; known: "
                            f"{', '.join(suite.task_names)} (drop --suite to run tasks outside a suite)")
        wanted = set(only) | {s for t in only if t in self.derived for s in self.derived[t].sources}
        return suite, [t for t in suite.task_names if t in wanted]


def policy_file(ref: str, registry: Registry | None = None) -> Path:
    """A policy file: a path as given, or a name looked up in the policies/ folders."""
    return Path(ref) if is_path_ref(ref) else (registry or default_registry()).file("policy", ref)


def default_registry() -> Registry:
    """The registry of the shipped folder plus HHH_EVAL_INCLUDE_PATH (library use without a command)."""
    return Registry.build(include_paths())


def load_tasks(registry: Registry | None = None) -> Mapping[str, TaskSpec]:
    """All tasks (shipped and included), by name."""
    return (registry or default_registry()).tasks


def load_derived(registry: Registry | None = None) -> Mapping[str, DerivedSpec]:
    """All derived tasks, by name."""
    return (registry or default_registry()).derived


def load_suite(ref: str, registry: Registry | None = None) -> SuiteSpec:
    """A suite by name or path, checked against the tasks it names."""
    return (registry or default_registry()).suite(ref)
