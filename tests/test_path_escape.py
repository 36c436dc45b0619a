"""Nothing lands outside the folder the user gave: every name that becomes a path is plain, every write is inside.

Names owned here: the model slug (from a hub id, a local folder or an API model name), --run-name and the
default run name, and the names joined onto --out / --output-dir folders (a '..' after a named folder is refused
at the one place files are written). Symbolic links inside a run folder that lead out of it are refused too.
The bad-input table (bad_inputs.yaml, class `escape`) covers the same through the CLI.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

import pytest

from hhh_eval.cli import main
from hhh_eval.errors import UserError
from hhh_eval.fileio import atomic_write_text, check_no_climb
from hhh_eval.identity import ModelIdentity
from hhh_eval.paths import inside, plain_name
from hhh_eval.registry import tasks_dir

CRAFTED = ["..", ".", "../x", "../../etc/passwd", "a/../../b", "/abs/x", ".hidden", "-rf", "a b", "x" * 300,
           "org/name", "..\\..\\win", "模型", "a\nb", "\x00", ""]


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("name", CRAFTED)
@pytest.mark.parametrize("source", ["api", "hub", "local"])
def test_model_slug_is_a_plain_name_inside_the_output_dir(name: str, source: str, tmp_path: Path) -> None:
    slug = ModelIdentity("hf", name, source, None, None, {}, None).slug
    assert plain_name(slug, "slug") == slug and len(slug) <= 100
    inside(tmp_path / slug / "run", tmp_path)


def test_long_names_keep_distinct_slugs() -> None:
    a, b = (ModelIdentity("hf", "x" * 200 + tail, "api", None, None, {}, None).slug for tail in "ab")
    assert a != b


@pytest.mark.parametrize("name", ["..", "../up", "a/b", "/abs", ".", ".hidden", "a\x00b", "x" * 129])
def test_run_names_that_are_not_plain_are_refused(name: str, tmp_path: Path, tiny_model: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(["run", "--model", "hf", "--model-args", f"pretrained={tiny_model}", "--output-dir", str(out),
                 "--run-name", name])
    assert code == 2 and "is not a plain name" in capsys.readouterr().err
    assert not _files(tmp_path)


def test_default_run_name_of_many_tasks_stays_plain(tmp_path: Path, tiny_model: Path) -> None:
    from hhh_eval.pipeline import RunConfig, plan_run
    from hhh_eval.registry import load_suite

    tasks = tuple(t for t in load_suite("hhh-core").task_names if t != "calibration")
    plan = plan_run(RunConfig(backend="hf", model_args={"pretrained": str(tiny_model)}, tasks=tasks,
                              output_dir=tmp_path))
    assert plain_name(plan.run_dir.name, "run name") and plan.run_dir.parent.parent == tmp_path


@pytest.mark.parametrize("rel", ["categories_../../../escaped.png", "a/../../escaped", "x/./../../../y"])
def test_a_name_that_climbs_out_of_its_folder_is_never_written(rel: str, tmp_path: Path) -> None:
    out = tmp_path / "deep" / "out"
    with pytest.raises(UserError, match="climbs out of the output folder"):
        atomic_write_text(out / rel, "x")
    assert not _files(tmp_path) and not (tmp_path / "deep").exists()


@pytest.mark.parametrize("path", ["../results/x", "../../a/b.json", "/abs/folder/file", "plain/file"])
def test_a_folder_the_user_gave_may_start_with_dotdot(path: str) -> None:
    assert check_no_climb(Path(path)) == Path(path)


def test_a_symlink_out_of_the_output_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "scores").symlink_to(tmp_path / "outside")
    with pytest.raises(UserError, match="through a symbolic link"):
        inside(tmp_path / "out" / "scores" / "x.jsonl", tmp_path / "out")


@pytest.mark.skipif(any(find_spec(p) is None for p in ("requests", "aiohttp", "tenacity", "tqdm")),
                    reason="lm-eval's API backends need pip install 'lm-eval[api]'")
def test_api_model_named_dotdot_writes_inside_the_output_dir(tmp_path: Path, tiny_model: Path) -> None:
    """An API model named '..' once wrote a whole run into the parent of --output-dir."""
    from stub_openai_server import StubBehaviour, serve

    out = tmp_path / "parent" / "out"
    with serve(StubBehaviour(tiny_model / "tokenizer.json", ("hurt",))) as stub:
        args = f"model=..,base_url={stub.url},tokenizer={tiny_model},tokenizer_backend=huggingface,max_retries=1"
        assert main(["run", "--model", "local-completions", "--model-args", args, "--tasks", "pubmedqa", "--limit",
                     "2", "--data-dir", str(tasks_dir() / "demo_data"), "--output-dir", str(out)]) == 0
    written = _files(tmp_path)
    assert written and all(out in p.parents for p in written)
    assert (out / "model" / "hhh-core.pubmedqa-limit2" / "report_card.json").is_file()
