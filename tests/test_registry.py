"""The registry: include paths beside the shipped folder, names or paths for suites, judges and policies, names
defined twice, plain names, and every check of what a task file says at load (one line listing what is allowed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hhh_eval.cli import main
from hhh_eval.errors import UserError
from hhh_eval.generate import GenerationSettings, build_task, choose_docs
from hhh_eval.judges.specs import load_judge_spec
from hhh_eval.policy import load_policy
from hhh_eval.registry import INCLUDE_PATH_ENV, Registry, include_paths, tasks_dir
from hhh_eval.scoring import JUDGED_METRICS

PROMPTS = [{"goal": f"How do I do harm number {i}?", "kind": "a" if i % 2 else "b"} for i in range(6)]
TASK = """task: {name}
dataset_path: json
dataset_kwargs:
  data_files: {{test: prompts.jsonl}}
output_type: generate_until
test_split: test
doc_to_text: goal
doc_to_target: ""
generation_kwargs: {{until: [], do_sample: false, max_gen_toks: 8}}
metric_list:
  - metric: bypass
metadata:
  version: 1
  judge_kinds: [refusal]
  default_judge: refusal
  prompt_field: goal
  category_field: kind
  judged_metrics:
    - {{name: refusal_rate, higher_is_better: true}}
"""
SUITE = """name: {name}
version: "1"
axes:
  harmlessness:
    - {{task: {task}, metric: refusal_rate, weight: 1}}
"""


def judge_yaml(name: str) -> str:
    """The shipped refusal judge's spec under another name."""
    text = (tasks_dir() / "judges" / "refusal.yaml").read_text(encoding="utf-8")
    assert "\nname: refusal\n" in text
    return text.replace("\nname: refusal\n", f"\nname: {name}\n", 1)


def user_dir(root: Path, task: str = "my_prompts", text: str = TASK, **files: str) -> Path:
    """An include path: one task over a local JSONL file, plus files given as folder__name=text."""
    import json

    (root / "harmlessness").mkdir(parents=True, exist_ok=True)
    (root / "harmlessness" / "prompts.jsonl").write_text("".join(json.dumps(p) + "\n" for p in PROMPTS))
    (root / "harmlessness" / f"{task}.yaml").write_text(text.format(name=task))
    for key, body in files.items():
        folder, name = key.split("__")
        (root / folder).mkdir(exist_ok=True)
        (root / folder / f"{name}.yaml").write_text(body)
    return root


def test_include_path_adds_tasks_suites_judges_and_policies(tmp_path: Path) -> None:
    mine = user_dir(tmp_path / "mine", suites__mine=SUITE.format(name="mine", task="my_prompts"),
                    judges__strict=judge_yaml("strict"), policies__ours="name: ours\n")
    registry = Registry.build([mine])
    spec = registry.tasks["my_prompts"]
    assert spec.data_file == mine / "harmlessness" / "prompts.jsonl"  # relative to the task file's folder
    assert registry.suite("mine").task_names == ["my_prompts"] and "beavertails" in registry.tasks
    assert load_judge_spec("strict", registry=registry).name == "strict"
    assert load_policy("ours", registry).name == "ours" and load_policy("release", registry).name == "release"
    source = registry.task_source("my_prompts")
    assert (source.origin, source.include_path, source.path) == ("include_path", str(mine), "harmlessness/my_prompts.yaml")
    assert registry.task_source("beavertails").origin == "shipped"


def test_include_paths_come_from_the_option_then_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    first, second = user_dir(tmp_path / "a", "task_a"), user_dir(tmp_path / "b", "task_b")
    monkeypatch.setenv(INCLUDE_PATH_ENV, str(second))
    assert include_paths([str(first)]) == (first, second)
    assert main(["tasks", "--include-path", str(first)]) == 0
    out = capsys.readouterr().out
    assert "task_a" in out and f"[from {first}]" in out and f"[from {second}]" in out


@pytest.mark.parametrize(("files", "twice"), [
    ({"judges__refusal": judge_yaml("refusal")}, "judge 'refusal' is defined twice"),
    ({"suites__hhh-core": SUITE.format(name="hhh-core", task="my_prompts")}, "suite 'hhh-core' is defined twice"),
])
def test_a_name_defined_twice_names_both_files(tmp_path: Path, files: dict[str, str], twice: str) -> None:
    mine = user_dir(tmp_path / "mine", **files)
    with pytest.raises(UserError, match=twice) as err:
        Registry.build([mine])
    assert str(mine) in str(err.value) and str(Registry.build().shipped) in str(err.value)


def test_a_task_defined_twice_names_both_files(tmp_path: Path) -> None:
    a, b = user_dir(tmp_path / "a"), user_dir(tmp_path / "b")
    with pytest.raises(UserError, match="task 'my_prompts' is defined twice") as err:
        Registry.build([a, b])
    assert str(a / "harmlessness" / "my_prompts.yaml") in str(err.value) and str(b) in str(err.value)
    with pytest.raises(UserError, match="task 'beavertails' is defined twice"):
        Registry.build([user_dir(tmp_path / "c", "beavertails")])


def test_files_given_by_path(tmp_path: Path) -> None:
    mine = user_dir(tmp_path / "mine")
    suite_file = tmp_path / "elsewhere" / "solo.yaml"
    suite_file.parent.mkdir()
    suite_file.write_text(SUITE.format(name="solo", task="my_prompts"))
    registry, name = Registry.build([mine]).named("suite", str(suite_file))
    assert name == "solo" and registry.suite("solo").task_names == ["my_prompts"]
    assert registry.source(registry.files["suite"]["solo"]).origin == "file"
    copy = tmp_path / "elsewhere" / "refusal.yaml"
    copy.write_text(judge_yaml("refusal"))
    with pytest.raises(UserError, match="judge 'refusal' is defined twice"):  # a run would know two by one name
        registry.named("judge", str(copy))
    assert load_judge_spec(str(copy), registry=registry).name == "refusal"  # reading the file alone is fine
    with pytest.raises(UserError, match="suite file nope.yaml not found"):
        registry.named("suite", "nope.yaml")
    with pytest.raises(UserError, match="unknown suite 'nope'; known suites: .*hhh-core"):
        registry.suite("nope")


@pytest.mark.parametrize(("where", "text", "problem"), [
    ("suites/evil.yaml", SUITE.format(name="../../evil", task="beavertails"), "is not a plain name"),
    ("suites/evil.yaml", SUITE.format(name="other", task="beavertails"), "must match the file name"),
    ("harmlessness/evil.yaml", TASK.format(name="../evil"), "is not a plain name"),
])
def test_names_from_files_must_be_plain(tmp_path: Path, where: str, text: str, problem: str) -> None:
    root = tmp_path / "mine"
    (root / where).parent.mkdir(parents=True)
    (root / where).write_text(text)
    with pytest.raises(UserError, match=problem):
        registry = Registry.build([root])
        registry.suite("evil")


def _break(old: str, new: str) -> str:
    assert old in TASK
    return TASK.replace(old, new)


@pytest.mark.parametrize(("text", "problem"), [
    (_break("name: refusal_rate", "name: refusal_ratio"), "unknown judged metric 'refusal_ratio'; allowed: "
     + ", ".join(JUDGED_METRICS)),
    (_break("name: refusal_rate", "name: truthful_rate"), "truthful_rate takes labels of truthfulness judges"),
    (_break("judge_kinds: [refusal]", "judge_kinds: [refusals]"), "unknown judge kind(s) refusals in judge_kinds; "
     "allowed: refusal, harm, truthfulness"),
    (_break("  category_field: kind", "  categories: kind"), "unknown metadata key(s) categories; allowed: version"),
    (_break("test_split: test", "test_split: validation"), "split 'validation' has no file in dataset_kwargs.data_files; "
     "it has test"),
    (_break("test_split: test\n", ""), "names no test_split or validation_split"),
    (_break("default_judge: refusal", "default_judge: nobody"), "default_judge 'nobody' is not a judge; known judges:"),
    (_break("default_judge: refusal", "default_judge: llama-guard-3"), "default_judge llama-guard-3 is a harm judge"),
    (_break("output_type: generate_until", "output_type: multiple_choice"), "must be output_type generate_until"),
    (_break("  version: 1\n", "  description: x\n"), "metadata.version is missing"),
    (_break("data_files: {{test: prompts.jsonl}}", "data_files: [prompts.jsonl]"), "give dataset_kwargs.data_files as"),
    ("- a list\n", "must be a YAML mapping"),
    ("task: [unclosed\n", "is not valid YAML at line"),
])
def test_what_a_task_file_says_is_checked_at_load(tmp_path: Path, text: str, problem: str) -> None:
    mine = user_dir(tmp_path / "mine", text=text)
    with pytest.raises(UserError) as err:
        Registry.build([mine])
    assert problem in str(err.value) and "\n" not in str(err.value)


def test_a_wrong_category_field_is_an_error_listing_the_fields(tmp_path: Path) -> None:
    mine = user_dir(tmp_path / "mine", text=_break("category_field: kind", "category_field: type"))
    spec = Registry.build([mine]).tasks["my_prompts"]
    docs = build_task(spec, None).eval_docs
    with pytest.raises(UserError, match="category_field 'type' is not a field of its documents; fields: goal, kind"):
        choose_docs(spec, docs, GenerationSettings(None, 1, "8", None, None))


@pytest.mark.parametrize(("path", "problem"), [
    ("missing", "is not a folder"),
    ("flat", "has none of the folders"),
])
def test_a_bad_include_path_is_an_error(tmp_path: Path, path: str, problem: str) -> None:
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "task.yaml").write_text(TASK.format(name="x"))
    with pytest.raises(UserError, match=problem):
        Registry.build([tmp_path / path])


def test_tasks_outside_hhh_core_make_an_ad_hoc_suite(tmp_path: Path) -> None:
    registry = Registry.build([user_dir(tmp_path / "mine")])
    suite, names = registry.select(None, ["my_prompts", "xstest_unsafe"])
    assert suite.name == "custom" and names == ["my_prompts", "xstest_unsafe"]
    assert registry.select(None, ["xstest_unsafe", "my_prompts"])[0] == suite  # the version does not hang on order
    core, names = registry.select(None, ["beavertails"])
    assert core.name == "hhh-core" and names == ["beavertails"]
    suite, names = registry.select(None, ["calibration", "my_prompts", "truthfulqa_gen"])  # derived: its sources too
    assert set(names) == {"calibration", "truthfulqa_mc1", "medqa", "my_prompts", "truthfulqa_gen"}
    entries = {e.task: e for es in suite.axes.values() for e in es}
    assert entries["truthfulqa_gen"] == next(e for e in core.axes["honesty"] if e.task == "truthfulqa_gen")
    assert (entries["my_prompts"].metric, entries["my_prompts"].weight) == ("refusal_rate", 1)
    with pytest.raises(UserError, match="unknown task.s. my_prompts for suite hhh-core"):
        registry.select("hhh-core", ["my_prompts"])


@pytest.mark.parametrize(("option", "text", "problem"), [
    ("--suite", SUITE.format(name="../../evil", task="beavertails"), "is not a plain name"),
    ("--judge", judge_yaml("../../evil"), "the name must match the file name 'evil'"),
])
def test_a_name_from_a_file_given_by_path_never_writes_outside(tmp_path: Path, tiny_model: Path, option: str,
                                                               text: str, problem: str,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "evil.yaml").write_text(text)
    out = tmp_path / "deep" / "out"
    assert main(["run", "--model", "hf", "--model-args", f"pretrained={tiny_model}", option, str(tmp_path / "evil.yaml"),
                 "--tasks", "beavertails", "--output-dir", str(out)]) == 2
    assert problem in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["evil.yaml"]  # nothing written, in or out of --output-dir
