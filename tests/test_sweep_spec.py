"""The sweep file and its points: validation (one line naming the key), checkpoint globs, merge grids, extras."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from hhh_eval.cli import main
from hhh_eval.errors import UserError
from hhh_eval.sweep import executors, merge, runner
from hhh_eval.sweep.points import expand_points, run_config
from hhh_eval.sweep.spec import load_sweep

# the README's example (the issue's): explicit point, checkpoint glob and merge grid in one sweep
EXAMPLE = {
    "name": "med-merge", "suite": "hhh-core", "backend": "hf", "model_args": {"dtype": "bfloat16"}, "x": "lambda",
    "baseline": "domain",
    "points": [{"name": "domain", "model": "/models/med-7b", "labels": {"lambda": 0}}],
    "checkpoints": {"glob": "CKPT/step-*", "label": "step"},
    "merge": {"method": "task_arithmetic", "base": "/models/llama-3-8b",
              "models": {"domain": "/models/med-7b", "alignment": "/models/llama-3-8b-instruct"},
              "grid": {"alignment": [0.0, 0.25, 0.5, 0.75, 1.0]}},
    "resources": {"num_gpus": 1},
}


def _write(tmp_path: Path, sweep: dict, name: str = "sweep.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(sweep, sort_keys=False))
    return path


@pytest.fixture
def ckpt(tmp_path: Path) -> Path:
    for step in (1000, 200, 30):
        (tmp_path / "ckpt" / f"step-{step}").mkdir(parents=True)
    (tmp_path / "ckpt" / "step-notes.txt").write_text("a file, not a checkpoint")
    return tmp_path / "ckpt"


def _example(ckpt: Path) -> dict:
    return copy.deepcopy(EXAMPLE) | {"checkpoints": {"glob": str(ckpt / "step-*"), "label": "step"}}


def test_example_expands_to_points_checkpoints_and_merges_in_order(tmp_path: Path, ckpt: Path) -> None:
    spec, sha = load_sweep(_write(tmp_path, _example(ckpt)))
    points = expand_points(spec)
    assert [p.name for p in points] == ["domain", "step-30", "step-200", "step-1000", "alignment-0.0",
                                        "alignment-0.25", "alignment-0.5", "alignment-0.75", "alignment-1.0"]
    assert [p.labels for p in points[1:4]] == [{"step": 30}, {"step": 200}, {"step": 1000}]
    merged = points[5]
    assert merged.kind == "merge" and merged.model is None
    assert merged.labels == {"alignment": 0.25, "lambda": 0.25}  # the weight under the varied model's name and x
    assert [(i.name, i.weight) for i in merged.merge.inputs] == [("domain", 1.0), ("alignment", 0.25)]
    assert merged.merge.mergekit_config()["base_model"] == "/models/llama-3-8b"
    assert len(sha) == 64


def test_point_runs_share_the_sweep_settings(tmp_path: Path, ckpt: Path) -> None:
    sweep = _example(ckpt) | {"limit": 5, "limit_mode": "first", "tasks": "hhh_helpful,beavertails",
                              "gen_kwargs": {"max_gen_toks": 8}}
    sweep["points"][0] = sweep["points"][0] | {"model_args": {"dtype": "float32"}, "revision": "abc"}
    spec, _ = load_sweep(_write(tmp_path, sweep))
    point = expand_points(spec)[0]
    config = run_config(spec, point, tmp_path / "sweeps" / "med-merge", force=False)
    assert config.model_args == {"dtype": "float32", "revision": "abc", "pretrained": "/models/med-7b"}
    assert config.tasks == ("hhh_helpful", "beavertails") and config.settings.limit == 5
    assert config.settings.limit_mode == "first"
    assert config.run_name == "domain" and config.labels == {"lambda": 0}
    assert config.output_dir == tmp_path / "sweeps" / "med-merge"


@pytest.mark.parametrize(("change", "message"), [
    ({"nmae": "x"}, "unknown key 'nmae'; allowed: name, suite"),
    ({"points": [{"name": "a", "model": "m", "lables": {}}]}, "unknown key 'points[0].lables'; allowed: name, model"),
    ({"resources": {"gpus": 1}}, "unknown key 'resources.gpus'; allowed: num_cpus, num_gpus, memory"),
    ({"limit": 0}, "'limit': Input should be greater than 0"),
    ({"limit_mode": "last"}, "'limit_mode': Input should be 'sample' or 'first'"),
    ({"batch_size": "many"}, "'batch_size': String should match pattern"),
    ({"merge": EXAMPLE["merge"] | {"grid": {"other": [1.0]}}}, "grid model 'other' is not one of models"),
    ({"merge": EXAMPLE["merge"] | {"grid": {"domain": [1.0], "alignment": [0.5]}}}, "name exactly one"),
    ({"points": [{"name": "a", "model": "m", "labels": {"x": [1]}}]}, "'points[0].labels.x': a label is a number"),
    ({"points": [], "checkpoints": None, "merge": None}, "nothing to evaluate"),
    ({"merge": EXAMPLE["merge"] | {"method": "../ties"}}, "'merge.method': String should match pattern"),
    ({"objective": "speed"}, "'objective': Input should be 'helpfulness', 'honesty' or 'harmlessness'"),
])
def test_a_bad_sweep_file_is_one_line_naming_the_key(tmp_path: Path, ckpt: Path, change: dict, message: str) -> None:
    with pytest.raises(UserError) as err:
        load_sweep(_write(tmp_path, _example(ckpt) | change))
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(("change", "message"), [
    ({"baseline": "nope"}, "baseline 'nope' is not a point of the sweep"),
    ({"points": [{"name": "alignment-0.5", "model": "m"}]}, "two sweep points are named 'alignment-0.5'"),
    ({"points": [{"name": "../up", "model": "m"}]}, "sweep point '../up' is not a plain name"),
    ({"checkpoints": {"glob": "/nonexistent/step-*"}}, "matches no folder"),
])
def test_bad_points_are_one_line_errors(tmp_path: Path, ckpt: Path, change: dict, message: str) -> None:
    spec, _ = load_sweep(_write(tmp_path, _example(ckpt) | {"baseline": None} | change))
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(".", r"\.")):
        expand_points(spec)


def test_yaml_errors_and_duplicate_keys_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: a\nname: b\n")
    with pytest.raises(UserError, match="not valid YAML at line 2.*duplicate key 'name'"):
        load_sweep(bad)
    bad.write_text("- just\n- a list\n")
    with pytest.raises(UserError, match="not a YAML mapping"):
        load_sweep(bad)


def test_cli_bad_sweep_file_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, {"name": "s", "points": [{"name": "a", "model": "m"}], "colour": "red"})
    assert main(["sweep", str(path), "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hhh-eval sweep: error:") and "unknown key 'colour'" in err and "\n" not in err
    assert not (tmp_path / "out").exists()  # nothing written


def test_missing_extras_name_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(executors, "find_spec", lambda name: None)
    monkeypatch.setattr(merge, "find_spec", lambda name: None)
    plain = _write(tmp_path, {"name": "s", "points": [{"name": "a", "model": "m"}]})
    assert main(["sweep", str(plain), "--executor", "ray", "--output-dir", str(tmp_path / "out")]) == 2
    assert "pip install 'hhh-eval[ray]'" in capsys.readouterr().err
    merged = _write(tmp_path, {"name": "s", "merge": EXAMPLE["merge"]}, "merge.yaml")
    assert main(["sweep", str(merged), "--output-dir", str(tmp_path / "out")]) == 2
    assert "pip install 'hhh-eval[merge]'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_policy_of_another_suite_is_refused_before_anything_runs(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("name: old\nsuite: {name: hhh-core, version: 1}\n")
    sweep = _write(tmp_path, {"name": "s", "points": [{"name": "a", "model": "m"}]})
    options = runner.SweepOptions(output_dir=tmp_path / "out", policy=policy)
    with pytest.raises(UserError, match="policy old is for suite hhh-core v1, the sweep runs hhh-core v"):
        runner.plan_sweep(sweep, options)


def test_ray_probe_refuses_a_folder_that_is_not_the_drivers(tmp_path: Path) -> None:
    assert executors._probe(str(tmp_path), "token") is not None  # no driver token there: another filesystem
    (tmp_path / ".probe-token").write_text("token")
    assert executors._probe(str(tmp_path), "token") is None
    (tmp_path / ".probe-token").write_text("someone else's")
    assert "other files" in executors._probe(str(tmp_path), "token")


def test_make_sweep_passes_each_variable_as_one_argument(tmp_path: Path) -> None:
    import shutil
    import subprocess
    import sys

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    echo = tmp_path / "echo_argv.py"
    echo.write_text("import json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    sweep = f"a b; touch {tmp_path}/p1 $(shell touch {tmp_path}/p2) `touch {tmp_path}/p3` it's.yaml"
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run(["make", "-s", "-o", ".installed", "sweep", f"PYTHON={sys.executable} {echo}",
                           f"SWEEP={sweep}", "EXECUTOR=ray", "RAY_ADDRESS=$(x)"],
                          cwd=root, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    argv = json.loads(proc.stdout.strip().splitlines()[-1])
    assert argv[:4] == ["-m", "hhh_eval", "sweep", sweep]
    assert argv[argv.index("--executor") + 1] == "ray" and argv[argv.index("--ray-address") + 1] == "$(x)"
    assert not list(tmp_path.glob("p*")), "a variable's text was executed"
    missing = subprocess.run(["make", "-s", "-o", ".installed", "sweep"], cwd=root, capture_output=True, text=True,
                             timeout=60)
    assert missing.returncode != 0 and "make sweep needs SWEEP=" in missing.stdout


def test_readme_example_is_a_valid_sweep_file(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = readme.split("## Sweeps", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    spec, _ = load_sweep(_write_text(tmp_path, block))
    assert spec.name == "med-merge" and spec.merge.varied == "alignment" and spec.resources.num_gpus == 1
    assert yaml.safe_load(block) == EXAMPLE | {"checkpoints": {"glob": "/ckpt/run1/step-*", "label": "step"}}


def _write_text(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "readme.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("flags", "message"), [
    (["--ray-address", "auto"], "are for --executor ray"),
    (["--executor", "ray", "--ray-address", "auto", "--ray-num-cpus", "2"], "drop one of them"),
    (["--policy", "no-such-policy.yaml"], "cannot read policy no-such-policy.yaml"),
])
def test_inconsistent_options_are_one_line_errors(tmp_path: Path, flags: list[str], message: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, {"name": "s", "points": [{"name": "a", "model": "m"}]})
    assert main(["sweep", str(path), "--output-dir", str(tmp_path / "out"), *flags]) == 2
    assert message in capsys.readouterr().err


def test_a_wrong_model_arg_stops_the_sweep_before_any_point_runs(tmp_path: Path, tiny_model: Path, data_dir: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    sweep = {"name": "s", "tasks": "hhh_helpful", "limit": 2, "data_dir": str(data_dir),
             "model_args": {"dtype": "float32", "no_such_arg": 1},
             "points": [{"name": "a", "model": str(tiny_model)}, {"name": "gone", "model": str(tmp_path / "gone")}]}
    code = main(["sweep", str(_write(tmp_path, sweep)), "--output-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "sweep point 'a'" in err and "'no_such_arg'" in err and "model_args" in err
    assert not (tmp_path / "out").exists()
