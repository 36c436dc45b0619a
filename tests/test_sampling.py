"""--limit N: a seeded sample, stratified by category (every category where N allows), or lm-eval's first N."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from hhh_eval.cli import main
from hhh_eval.fileio import read_json, read_jsonl
from hhh_eval.generate import GenerationSettings, build_task, choose_docs
from hhh_eval.registry import load_tasks
from hhh_eval.sampling import allocate, sample_doc_ids


@pytest.mark.parametrize("seed", range(40))
def test_allocation_is_proportional_and_gives_every_stratum_one(seed: int) -> None:
    rng = np.random.default_rng(seed)
    sizes = [int(s) for s in rng.integers(1, 60, size=rng.integers(1, 12))]
    n = int(rng.integers(1, sum(sizes) + 1))
    quota = allocate(sizes, n, np.random.default_rng(seed))
    assert sum(quota) == n and all(0 <= q <= s for q, s in zip(quota, sizes, strict=True))
    if n >= len(sizes):
        assert min(quota) >= 1
    share = np.array(sizes) * n / sum(sizes)
    # off the exact share by less than one item, except where the one-each floor lifted a small stratum
    lifted = (np.array(quota) == 1) & (share < 1)
    assert np.all((np.abs(np.array(quota) - share) < 1 + lifted.sum()) | lifted)


def test_equal_strata_differ_by_at_most_one_and_ties_follow_the_seed() -> None:
    quotas = {tuple(allocate([50] * 14, 20, np.random.default_rng(s))) for s in range(10)}
    assert all(sorted(q) == [1] * 8 + [2] * 6 for q in quotas)
    assert len(quotas) > 1  # which categories get the second item depends on the seed


def test_sample_is_seeded_sorted_and_first_mode_is_lm_eval_limit() -> None:
    cats = [c for c in "abcd" for _ in range(25)]  # sorted by category, as HarmBench-like files are
    a, b = sample_doc_ids(100, 8, 1, cats), sample_doc_ids(100, 8, 1, cats)
    assert a == b == sorted(set(a)) and len(a) == 8 and all(0 <= i < 100 for i in a)
    assert sample_doc_ids(100, 8, 2, cats) != a
    assert Counter(cats[i] for i in a) == {"a": 2, "b": 2, "c": 2, "d": 2}
    assert sample_doc_ids(100, 8, 1, cats, mode="first") == list(range(8))
    assert {cats[i] for i in range(8)} == {"a"}  # what --limit-mode first measures on a sorted file
    assert sample_doc_ids(100, 3, 1, cats) and len({cats[i] for i in sample_doc_ids(100, 3, 1, cats)}) == 3
    assert sample_doc_ids(5, 10, 1) == list(range(5))
    assert len(set(sample_doc_ids(100, 30, 4))) == 30  # no category field: a plain seeded sample


def _categories(name: str, data_dir: Path, mode: str) -> Counter[str]:
    spec = load_tasks()[name]
    docs = build_task(spec, data_dir).eval_docs
    ids = choose_docs(spec, docs, GenerationSettings(20, 1234, "8", None, None, mode))  # type: ignore[arg-type]
    assert ids is not None and len(ids) == 20
    return Counter(docs[i][spec.category_field] for i in ids)


def test_limit_20_samples_every_category_on_real_data(data_dir: Path) -> None:
    beavertails = _categories("beavertails", data_dir, "sample")
    assert len(beavertails) == 14 and set(beavertails.values()) == {1, 2}  # 14 categories of 50: 20 = 14 + 6
    # XSTest lists its prompts by type: lm-eval's first 20 measure one of the 8 types, the sample all 8
    assert len(_categories("xstest_unsafe", data_dir, "first")) == 1
    assert set(_categories("xstest_unsafe", data_dir, "sample").values()) == {2, 3}  # 200 = 8 types x 25


def _limited_run(out: Path, model: Path, data_dir: Path) -> Path:
    assert main(["run", "--model", "hf", "--model-args", f"pretrained={model}", "--tasks", "beavertails",
                 "--limit", "20", "--data-dir", str(data_dir), "--output-dir", str(out),
                 "--gen-kwargs", "max_gen_toks=4"]) == 0
    return out / model.name / "hhh-core.beavertails-limit20"


@pytest.mark.integration
def test_limited_runs_record_their_documents_and_pair(tmp_path: Path, tiny_model: Path, data_dir: Path) -> None:
    from hhh_eval.tiny_model import build_tiny_model

    run = _limited_run(tmp_path / "out", tiny_model, data_dir)
    manifest, card = read_json(run / "manifest.json"), read_json(run / "report_card.json")
    doc_ids = manifest["generated"]["beavertails"]["doc_ids"]
    assert manifest["limit_mode"] == "sample" and len(doc_ids) == 20
    samples = read_jsonl(run / "samples" / "beavertails.jsonl")
    rows = read_jsonl(data_dir / "hub" / "PKU-Alignment" / "BeaverTails-Evaluation" / "default" / "test.jsonl")
    assert [s["doc_id"] for s in samples] == doc_ids
    assert all(s["doc"] == rows[s["doc_id"]] for s in samples)  # lm-eval's samples= kept the true doc ids
    assert len(card["tasks"]["beavertails"]["categories"]) == 14
    other = _limited_run(tmp_path / "out", build_tiny_model(tmp_path / "other", seed=1), data_dir)
    theirs = read_jsonl(other / "samples" / "beavertails.jsonl")
    assert [s["doc_hash"] for s in theirs] == [s["doc_hash"] for s in samples]  # same seed: same items, pairable
