"""Sweeps end to end on real data: two tiny models A and B, a mergekit task_arithmetic grid (base A, varied B) at
weights 0, 0.5 and 1, and a point whose checkpoint is missing; local executor, a local Ray, a killed driver."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from hhh_eval import generate
from hhh_eval.card import card_errors
from hhh_eval.cli import main
from hhh_eval.fileio import read_json, read_jsonl
from hhh_eval.identity import CACHE_DIR_ENV, fingerprint_dir
from hhh_eval.tiny_model import build_tiny_model

pytest.importorskip("mergekit", reason="the merge grid needs mergekit: pip install 'hhh-eval[merge]'")
pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent
TASKS = ["hhh_helpful", "hhh_harmless", "beavertails"]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The fingerprint cache in a temporary folder (inherited by Ray workers and subprocesses)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(CACHE_DIR_ENV, str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def models(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {"A": tiny_model, "B": build_tiny_model(tmp_path_factory.mktemp("tiny-b"), seed=1)}


def write_sweep(folder: Path, name: str, models: dict[str, Path], data_dir: Path, ghost: bool = True,
                weights: tuple[float, ...] = (0.0, 0.5, 1.0)) -> Path:
    points = [{"name": "A", "model": str(models["A"])}, {"name": "B", "model": str(models["B"])}]
    points += [{"name": "ghost", "model": str(folder / "no-such-checkpoint")}] if ghost else []
    sweep = {"name": name, "tasks": TASKS, "limit": 4, "gen_kwargs": {"max_gen_toks": 16}, "data_dir": str(data_dir),
             "points": points, "trend_tasks": ["beavertails"],
             "merge": {"method": "task_arithmetic", "base": str(models["A"]), "models": {"aligned": str(models["B"])},
                       "grid": {"aligned": list(weights)}, "dtype": "float32"}}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(sweep, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("policy") / "policy.yaml"
    path.write_text(yaml.safe_dump({"name": "sweep-test", "suite": {"name": "hhh-core"},
                                    "bounds": [{"axis": "harmlessness", "bound": "point", "min": 0}],
                                    "non_inferiority": [{"axis": "helpfulness", "margin": 100}]}))
    return path


@pytest.fixture(scope="module")
def local_sweep(env: None, models: dict[str, Path], data_dir: Path, policy: Path,
                tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("sweep")
    path = write_sweep(folder, "ab", models, data_dir)
    code = main(["sweep", str(path), "--output-dir", str(folder / "out"), "--policy", str(policy)])
    sweep_dir = folder / "out" / "sweeps" / "ab"
    return {"code": code, "path": path, "out": folder / "out", "dir": sweep_dir, "folder": folder,
            "state": read_json(sweep_dir / "sweep.json")}


def points(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in state["points"]}


def card(sweep_dir: Path, point: dict[str, Any]) -> dict[str, Any]:
    c = read_json(sweep_dir / point["run_dir"] / "report_card.json")
    c.pop("created_at")
    return c


def test_every_point_runs_and_the_missing_checkpoint_is_reported(local_sweep: dict[str, Any]) -> None:
    assert local_sweep["code"] == 1  # a point failed
    pts = points(local_sweep["state"])
    assert list(pts) == ["A", "B", "ghost", "aligned-0.0", "aligned-0.5", "aligned-1.0"]
    ghost = pts.pop("ghost")
    assert ghost["status"] == "failed" and ghost["attempts"] == 2 and "does not exist" in ghost["error"]
    assert all(p["status"] == "done" and p["key"] for p in pts.values())
    assert pts["aligned-0.5"]["labels"] == {"aligned": 0.5}
    for p in pts.values():
        c = read_json(local_sweep["dir"] / p["run_dir"] / "report_card.json")
        assert card_errors(c) == [] and c["run"]["run_name"] == p["name"] and set(c["tasks"]) == set(TASKS)
    assert "Traceback" in (local_sweep["dir"] / "logs" / "ghost.log").read_text()


def test_report_compares_every_point_with_the_baseline_in_one_file(local_sweep: dict[str, Any]) -> None:
    sweep_dir, state = local_sweep["dir"], local_sweep["state"]
    comparison = read_json(sweep_dir / "comparison.json")
    assert comparison["baseline"] == "A" and comparison["correction"] == "holm per card"
    assert [c["label"] for c in comparison["cards"]] == ["A", "B", "aligned-0.0", "aligned-0.5", "aligned-1.0"]
    for stem in ("trends", "pareto", "categories_beavertails"):
        assert (sweep_dir / "plots" / f"{stem}.png").is_file() and (sweep_dir / "plots" / f"{stem}.svg").is_file()
    html = (sweep_dir / "report.html").read_text()
    assert html.count('<img src="data:image/png;base64,') == len(list((sweep_dir / "plots").glob("*.png")))
    assert "http" not in html.replace("http-equiv", "") and "B vs A" in html
    report = state["report"]
    assert report["frontier"] and set(report["frontier"]) <= {"A", "B", "aligned-0.0", "aligned-0.5", "aligned-1.0"}
    assert f"Pareto frontier (helpfulness vs harmlessness, higher is better on both): {', '.join(report['frontier'])}" \
        in (sweep_dir / "sweep.md").read_text()


def test_policy_gates_each_point_and_names_the_best(local_sweep: dict[str, Any]) -> None:
    sweep_dir, state = local_sweep["dir"], local_sweep["state"]
    done = {n: p for n, p in points(state).items() if p["status"] == "done"}
    report = state["report"]
    assert report["policy"] == "sweep-test" and set(report["gate"]) == set(done)
    for name, p in done.items():
        checklist = read_json(sweep_dir / p["run_dir"] / "checklist.json")
        assert checklist["verdict"] == report["gate"][name]
        ni = next(c for c in checklist["checks"] if c["kind"] == "non_inferiority")
        assert ni["status"] == ("SKIP" if name == "A" else "PASS")  # the baseline is not compared with itself
    passed = [n for n, v in report["gate"].items() if v == "PASS"]
    best_score = max(card(sweep_dir, done[n])["axes"]["helpfulness"]["score"] for n in passed)
    assert report["best"] in passed
    assert card(sweep_dir, done[report["best"]])["axes"]["helpfulness"]["score"] == best_score


def _same_scores(x: dict[str, Any], y: dict[str, Any]) -> bool:
    """Two items' score rows agree: every field equal, except `confidence` (the chosen option's probability, computed
    from the log-likelihoods) within the log-likelihoods' own tolerance."""
    cx, cy = x.get("confidence"), y.get("confidence")
    close = cx == cy or (cx is not None and cy is not None and abs(cx - cy) < 1e-3)
    rest = [{k: v for k, v in row.items() if k != "confidence"} for row in (x, y)]
    return close and rest[0] == rest[1]


def _differences(a_dir: Path, b_dir: Path) -> tuple[list[str], float]:
    """Items whose per-item scores differ (must be none) and the largest log-likelihood difference."""
    differ, worst = [], 0.0
    for task in TASKS:
        for x, y in zip(*(read_jsonl(d / "scores" / f"{task}.jsonl") for d in (a_dir, b_dir)), strict=True):
            if not _same_scores(x, y):
                differ.append(f"{task} {x['doc_hash']}")
        for x, y in zip(*(read_jsonl(d / "samples" / f"{task}.jsonl") for d in (a_dir, b_dir)), strict=True):
            assert x.get("response") == y.get("response")
            if "loglikelihoods" in x:
                worst = max(worst, float(np.max(np.abs(np.subtract(x["loglikelihoods"], y["loglikelihoods"])))))
    return differ, worst


def test_merge_weights_0_and_1_give_the_source_models_results(local_sweep: dict[str, Any],
                                                               models: dict[str, Path]) -> None:
    sweep_dir, pts = local_sweep["dir"], points(local_sweep["state"])
    differ, worst = _differences(sweep_dir / pts["A"]["run_dir"], sweep_dir / pts["aligned-0.0"]["run_dir"])
    assert differ == [] and worst == 0.0  # A + 0 x (B - A) is A, bit for bit
    differ, worst = _differences(sweep_dir / pts["B"]["run_dir"], sweep_dir / pts["aligned-1.0"]["run_dir"])
    print(f"weight 1 vs B: {len(differ)} items differ; largest log-likelihood difference {worst:.2e}")
    assert differ == [] and worst < 1e-3  # A + (B - A) rounds to B within float32 (about 1e-7 per weight)


def test_merged_points_record_their_provenance(local_sweep: dict[str, Any], models: dict[str, Path]) -> None:
    sweep_dir, p = local_sweep["dir"], points(local_sweep["state"])["aligned-0.5"]
    merge = read_json(sweep_dir / p["run_dir"] / "manifest.json")["model"]["merge"]
    assert merge == p["merge"] == read_json(sweep_dir / p["run_dir"] / "report_card.json")["model"]["merge"]
    assert merge["method"] == "task_arithmetic" and merge["mergekit_version"] == metadata.version("mergekit")
    assert merge["base"]["identity"] == {"source": "local", "fingerprint": fingerprint_dir(models["A"]), "name": None,
                                         "revision": None}
    assert [(i["name"], i["weight"], i["identity"]["fingerprint"]) for i in merge["inputs"]] == \
        [("aligned", 0.5, fingerprint_dir(models["B"]))]
    assert Path(p["model"]).name == f"task_arithmetic-{merge['key'][:16]}"


def test_rerun_makes_no_model_calls(local_sweep: dict[str, Any], policy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("a finished point was computed again")

    from hhh_eval.sweep import merge

    monkeypatch.setattr(generate, "load_lm", forbidden)
    monkeypatch.setattr(merge, "_run_mergekit", forbidden)
    sweep_dir = local_sweep["dir"]
    before = {n: (sweep_dir / p["run_dir"] / "report_card.json").read_bytes()
              for n, p in points(local_sweep["state"]).items() if p["run_dir"]}
    assert main(["sweep", str(local_sweep["path"]), "--output-dir", str(local_sweep["out"]),
                 "--policy", str(policy)]) == 1  # the missing checkpoint is tried again and fails again
    after = points(read_json(sweep_dir / "sweep.json"))
    assert {n: (sweep_dir / after[n]["run_dir"] / "report_card.json").read_bytes() for n in before} == before
    assert after["ghost"]["status"] == "failed"


def test_a_finished_sweep_reruns_without_loading_torch_or_transformers(env: None, models: dict[str, Path],
                                                                       data_dir: Path, tmp_path: Path) -> None:
    """Keys of finished points are computed without checking model args and generation settings against transformers
    and lm-eval's model classes (imports of seconds, the bulk of a cached re-run); those checks are for points to run."""
    path = tmp_path / "one.yaml"
    path.write_text(yaml.safe_dump({"name": "one", "tasks": ["beavertails"], "limit": 2, "data_dir": str(data_dir),
                                    "gen_kwargs": {"max_gen_toks": 8},
                                    "points": [{"name": "A", "model": str(models["A"])}]}))
    assert main(["sweep", str(path), "--output-dir", str(tmp_path / "out")]) == 0
    code = ("import sys; from hhh_eval.cli import main; code = main(sys.argv[1:]); "
            "print(code, sorted(m for m in ('transformers', 'torch') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code, "sweep", str(path), "--output-dir", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.stdout.strip().splitlines()[-1] == "0 []", proc.stdout + proc.stderr[-2000:]
    assert "1 finished earlier, 0 to run" in proc.stderr


def test_a_method_mergekit_does_not_know_is_one_line_before_anything_runs(
        local_sweep: dict[str, Any], models: dict[str, Path], data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_sweep(local_sweep["folder"], "bad-method", models, data_dir, ghost=False)
    path.write_text(path.read_text().replace("task_arithmetic", "task_arithmatic"))
    assert main(["sweep", str(path), "--output-dir", str(local_sweep["out"])]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "merge method 'task_arithmatic' is not a mergekit method; use one of" in err and "task_arithmetic" in err
    assert not (local_sweep["out"] / "sweeps" / "bad-method").exists()


def test_killed_driver_resumes_to_identical_cards(local_sweep: dict[str, Any], models: dict[str, Path],
                                                 data_dir: Path) -> None:
    folder = local_sweep["folder"]
    path = write_sweep(folder, "killed", models, data_dir, ghost=False, weights=(0.5,))
    argv = [sys.executable, "-m", "hhh_eval", "sweep", str(path), "--output-dir", str(local_sweep["out"])]
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state_file, deadline = local_sweep["out"] / "sweeps" / "killed" / "sweep.json", time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if state_file.is_file() and any(p["status"] == "done" for p in read_json(state_file)["points"]):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL  # killed mid-sweep, not finished
    first = next(p for p in read_json(state_file)["points"] if p["status"] == "done")
    first_card = (state_file.parent / first["run_dir"] / "report_card.json").read_bytes()
    assert main(["sweep", str(path), "--output-dir", str(local_sweep["out"])]) == 0
    resumed = points(read_json(state_file))
    assert (state_file.parent / first["run_dir"] / "report_card.json").read_bytes() == first_card  # not redone
    reference = points(local_sweep["state"])
    for name, p in resumed.items():
        assert card(state_file.parent, p) == card(local_sweep["dir"], reference[name]), name


@pytest.fixture(scope="module")
def local_ray(env: None) -> Iterator[Any]:
    ray = pytest.importorskip("ray", reason="the Ray executor needs Ray: pip install 'hhh-eval[ray]'")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    yield ray
    ray.shutdown()


def test_ray_executor_gives_the_same_cards(local_sweep: dict[str, Any], local_ray: Any, models: dict[str, Path],
                                           data_dir: Path) -> None:
    path = write_sweep(local_sweep["folder"], "on-ray", models, data_dir)
    assert main(["sweep", str(path), "--executor", "ray", "--output-dir", str(local_sweep["out"])]) == 1
    state = points(read_json(local_sweep["out"] / "sweeps" / "on-ray" / "sweep.json"))
    assert state["ghost"]["status"] == "failed" and "does not exist" in state["ghost"]["error"]
    reference = points(local_sweep["state"])
    for name, p in state.items():
        if name != "ghost":
            assert card(local_sweep["out"] / "sweeps" / "on-ray", p) == card(local_sweep["dir"], reference[name]), name


def test_a_worker_dying_mid_point_is_a_failed_try(local_ray: Any, tmp_path: Path) -> None:
    from hhh_eval.pipeline import RunConfig
    from hhh_eval.sweep.executors import PointResult, PointTask, RayExecutor
    from hhh_eval.sweep.spec import ResourcesSpec

    marker = tmp_path / "tried"

    def die_first_time(task: PointTask) -> PointResult:
        if not marker.exists():
            marker.touch()
            os._exit(1)  # the worker process dies, as on an out-of-memory kill
        return PointResult(task.name, True, 0.0)

    class Recorder:
        results: list[PointResult] = []

        def started(self, name: str) -> None: ...

        def finished(self, result: PointResult) -> None:
            self.results.append(result)

    task = PointTask("p", RunConfig(backend="hf", model_args={}), None, tmp_path, tmp_path / "p.log")
    RayExecutor(max_retries=1, resources=ResourcesSpec()).run([task], Recorder(), fn=die_first_time)
    marker.unlink()
    RayExecutor(max_retries=0, resources=ResourcesSpec()).run([task], Recorder(), fn=die_first_time)
    retried, failed = Recorder.results
    assert retried.ok and not failed.ok and "died" in failed.error.lower()
