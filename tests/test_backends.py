"""The non-default backends: vllm (its arguments and identity, a clear error where it is missing, a real run where
a GPU and vllm are), an OpenAI-compatible server (a local stub served over HTTP) and hf on CUDA."""

from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path

import pytest

from hhh_eval import generate
from hhh_eval.card import load_card
from hhh_eval.cli import main
from hhh_eval.errors import UserError
from hhh_eval.fileio import read_jsonl
from hhh_eval.identity import ModelIdentity, parse_model_args, resolve_identity
from hhh_eval.registry import tasks_dir
from stub_openai_server import ANSWER, REFUSAL, StubBehaviour, refuses, serve, token_logprobs

SHA = "0123456789abcdef0123456789abcdef01234567"
REFUSE_WORDS = ("abuse", "hurt", "fake")
SETTINGS = generate.GenerationSettings(None, 1234, "8", None, None)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _flat(samples: list[dict]) -> list[float]:
    return [ll for s in samples for ll in s["loglikelihoods"]]


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    """The CLI's error message: the end of stderr, one line (an unfinished lm-eval progress bar may precede it)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    message = err[err.rindex("hhh-eval run: error: "):].strip()
    assert len(message.splitlines()) == 1, err
    return message


# ---------------------------------------------------------------- vllm without vllm

@pytest.fixture
def vllm_findable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A `vllm` package that can be found (never imported) where the real one is absent."""
    if find_spec("vllm") is None:
        (tmp_path / "site" / "vllm").mkdir(parents=True)
        (tmp_path / "site" / "vllm" / "__init__.py").write_text("raise ImportError('placeholder vllm for tests')\n")
        monkeypatch.syspath_prepend(str(tmp_path / "site"))


@pytest.fixture
def hub_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A hub id whose main branch is at commit SHA in an offline HF cache."""
    import huggingface_hub.constants

    repo = tmp_path / "hf" / "models--some-org--some-model"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(SHA)
    (repo / "snapshots" / SHA).mkdir(parents=True)
    (repo / "snapshots" / SHA / "config.json").write_text("{}")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    return "some-org/some-model"


@pytest.mark.usefixtures("vllm_findable")
def test_vllm_identity_records_backend_revision_dtype_and_parallelism(hub_model: str) -> None:
    args = {"pretrained": hub_model, "dtype": "bfloat16", "tensor_parallel_size": 2, "max_model_len": 4096}
    identity = resolve_identity("vllm", args)
    card = identity.to_card(None, None)
    assert (card["backend"], card["source"], card["revision"], card["dtype"]) == ("vllm", "hub", SHA, "bfloat16")
    assert card["model_args"] == {**args, "revision": SHA, "tokenizer_revision": SHA}  # tokenizer pinned as well
    assert args == {"pretrained": hub_model, "dtype": "bfloat16", "tensor_parallel_size": 2, "max_model_len": 4096}


@pytest.mark.usefixtures("vllm_findable")
def test_vllm_keeps_a_separately_named_tokenizer_at_its_own_revision(hub_model: str) -> None:
    identity = resolve_identity("vllm", {"pretrained": hub_model, "tokenizer": "other/tok"})
    assert identity.revision == SHA and "tokenizer_revision" not in identity.model_args


@pytest.mark.usefixtures("vllm_findable")
def test_cache_key_separates_backends_and_ignores_speed_args(tiny_model: Path) -> None:
    base = {"pretrained": str(tiny_model), "dtype": "float16"}
    vllm = resolve_identity("vllm", base)
    assert (vllm.source, vllm.revision, vllm.fingerprint) == ("local", None, resolve_identity("hf", base).fingerprint)
    assert vllm.sha256 != resolve_identity("hf", base).sha256
    speed = {"batch_size": "auto", "max_batch_size": 64, "gpu_memory_utilization": 0.5, "data_parallel_size": 2}
    assert resolve_identity("vllm", {**base, **speed}).sha256 == vllm.sha256
    changes = ({"dtype": "bfloat16"}, {"tensor_parallel_size": 2}, {"max_model_len": 1024}, {"quantization": "fp8"})
    for changed in changes:
        assert resolve_identity("vllm", {**base, **changed}).sha256 != vllm.sha256, changed


@pytest.mark.skipif(find_spec("vllm") is not None, reason="vllm is installed: the missing-vllm error cannot happen")
def test_load_lm_without_vllm_is_a_one_line_user_error(tiny_model: Path) -> None:
    identity = ModelIdentity("vllm", str(tiny_model), "local", None, "x", {"pretrained": str(tiny_model)}, None)
    with pytest.raises(UserError) as exc:
        generate.load_lm(identity, SETTINGS)
    message = str(exc.value)
    assert "backend 'vllm' is not installed" in message and "pip install -e '.[vllm]'" in message
    assert len(message.splitlines()) == 1


@pytest.mark.skipif(find_spec("vllm") is not None, reason="vllm is installed: the missing-vllm error cannot happen")
def test_run_with_vllm_missing_exits_2_and_writes_nothing(tmp_path: Path, tiny_model: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(["run", "--model", "vllm", "--model-args", f"pretrained={tiny_model}", "--tasks", "beavertails",
                 "--limit", "2", "--data-dir", str(tasks_dir() / "demo_data"), "--output-dir", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.splitlines() == ["hhh-eval run: error: backend 'vllm' is not installed (no module vllm); "
                                "pip install -e '.[vllm]'"]
    assert not out.exists()


def test_unknown_backend_exits_2_and_writes_nothing(tmp_path: Path, tiny_model: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["run", "--model", "vlm", "--model-args", f"pretrained={tiny_model}", "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown backend 'vlm'" in err
    assert not out.exists()


@pytest.mark.vllm
@pytest.mark.gpu
def test_vllm_runs_the_tiny_model_like_hf(tmp_path: Path, tiny_model: Path) -> None:
    pytest.importorskip("vllm", reason="vllm is not installed (pip install -e '.[vllm]')")
    if not _cuda():
        pytest.skip("vllm needs a CUDA GPU")
    demo = str(tasks_dir() / "demo_data")
    common = ["--tasks", "pubmedqa,beavertails", "--limit", "2", "--data-dir", demo, "--gen-kwargs", "max_gen_toks=8"]
    vllm_args = f"pretrained={tiny_model},dtype=float32,gpu_memory_utilization=0.3,enforce_eager=True"
    assert main(["run", "--model", "vllm", "--model-args", vllm_args, "--output-dir", str(tmp_path / "v"),
                 *common]) == 0
    assert main(["run", "--model", "hf", "--model-args", f"pretrained={tiny_model},dtype=float32",
                 "--output-dir", str(tmp_path / "h"), *common]) == 0
    card, run_dir = load_card(next((tmp_path / "v").glob("*/hhh-core.*")))
    assert (card.model.backend, card.model.source) == ("vllm", "local")
    assert all(isinstance(s["response"], str) for s in read_jsonl(run_dir / "samples" / "beavertails.jsonl"))
    hf_dir = next((tmp_path / "h").glob("*/hhh-core.*"))
    by_vllm = _flat(read_jsonl(run_dir / "samples" / "pubmedqa.jsonl"))
    assert by_vllm == pytest.approx(_flat(read_jsonl(hf_dir / "samples" / "pubmedqa.jsonl")), abs=1e-2)


# ---------------------------------------------------------------- an OpenAI-compatible server

@pytest.fixture
def api_data() -> Path:
    """The real data dir where one is set, else the shipped demo items (so the test runs everywhere)."""
    raw = os.environ.get("HHH_EVAL_DATA_DIR")
    return Path(raw) if raw and (Path(raw) / "hub").is_dir() else tasks_dir() / "demo_data"


@pytest.fixture
def api_ready() -> None:
    missing = [p for p in ("requests", "aiohttp", "tenacity", "tqdm") if find_spec(p) is None]
    if missing:
        pytest.skip(f"lm-eval's API backends need {', '.join(missing)} (pip install 'lm-eval[api]')")


def _api_model_args(url: str, tiny_model: Path) -> str:
    return (f"model=stub,base_url={url},tokenizer={tiny_model},tokenizer_backend=huggingface,"
            "max_retries=1,timeout=10,max_length=16384")


def _api_run(out: Path, url: str, tiny_model: Path, data: Path, task: str, limit: int) -> int:
    return main(["run", "--model", "local-completions", "--model-args", _api_model_args(url, tiny_model),
                 "--tasks", task, "--limit", str(limit), "--data-dir", str(data), "--output-dir", str(out)])


@pytest.mark.usefixtures("api_ready")
def test_server_answers_are_judged_scored_and_not_requested_again(tmp_path: Path, tiny_model: Path,
                                                                  api_data: Path) -> None:
    with serve(StubBehaviour(tiny_model / "tokenizer.json", REFUSE_WORDS)) as stub:
        assert _api_run(tmp_path, stub.url, tiny_model, api_data, "beavertails", 4) == 0
        sent = len(stub.requests)
        assert sent > 0 and all(r["path"] == "/v1/completions" and r["model"] == "stub" for r in stub.requests)
        card, run_dir = load_card(next(tmp_path.glob("stub/hhh-core.*")))
        samples = read_jsonl(run_dir / "samples" / "beavertails.jsonl")
        refused = {s["doc_id"]: refuses(s["doc"]["prompt"], REFUSE_WORDS) for s in samples}
        assert len(samples) == 4
        assert [s["response"] for s in samples] == [REFUSAL if refused[s["doc_id"]] else ANSWER for s in samples]
        model = card.model
        assert (model.source, model.backend, model.name) == ("api", "local-completions", "stub")
        verdicts = read_jsonl(run_dir / "verdicts" / "beavertails.refusal.jsonl")
        assert {v["doc_id"]: v["label"] for v in verdicts} == {
            i: "full_refusal" if r else "full_compliance" for i, r in refused.items()}
        harm = card.tasks["beavertails"].metrics["harm_rate"]
        assert harm.value == pytest.approx(sum(not r for r in refused.values()) / 4) and harm.n == 4

        assert _api_run(tmp_path, stub.url, tiny_model, api_data, "beavertails", 4) == 0
        assert len(stub.requests) == sent  # the finished run was reused: no HTTP request


@pytest.mark.usefixtures("api_ready")
def test_chat_server_applies_its_own_template(tmp_path: Path, tiny_model: Path, api_data: Path) -> None:
    """local-chat-completions sends messages (the server formats them); the card says the chat format was used."""
    with serve(StubBehaviour(tiny_model / "tokenizer.json", REFUSE_WORDS)) as stub:
        args = f"model=stub,base_url={stub.chat_url},max_retries=1,timeout=10"
        assert main(["run", "--model", "local-chat-completions", "--model-args", args, "--tasks", "beavertails",
                     "--limit", "3", "--data-dir", str(api_data), "--output-dir", str(tmp_path)]) == 0
        assert stub.requests and all(r["path"] == "/v1/chat/completions" for r in stub.requests)
        assert all(r["messages"][-1]["role"] == "user" for r in stub.requests)
        card, run_dir = load_card(next(tmp_path.glob("stub/hhh-core.*")))
        assert card.tasks["beavertails"].chat_template_applied is True
        samples = read_jsonl(run_dir / "samples" / "beavertails.jsonl")
        assert {s["response"] for s in samples} <= {REFUSAL, ANSWER}


@pytest.mark.usefixtures("api_ready")
def test_server_logprobs_become_the_items_loglikelihoods(tmp_path: Path, tiny_model: Path, api_data: Path) -> None:
    with serve(StubBehaviour(tiny_model / "tokenizer.json", REFUSE_WORDS)) as stub:
        assert _api_run(tmp_path, stub.url, tiny_model, api_data, "pubmedqa", 3) == 0
        assert stub.requests and all(r["echo"] and r["logprobs"] for r in stub.requests)
        identity = resolve_identity("local-completions", parse_model_args(_api_model_args(stub.url, tiny_model)))
        lm = generate.load_lm(identity, SETTINGS)  # only loads the tokenizer: no request
    card, run_dir = load_card(next(tmp_path.glob("stub/hhh-core.*")))
    samples = read_jsonl(run_dir / "samples" / "pubmedqa.jsonl")
    assert len(samples) == 3 and card.tasks["pubmedqa"].n == 3
    for s in samples:
        pairs = [lm._encode_pair(s["prompt"], choice) for choice in s["choices"]]
        expected = [sum(token_logprobs(ctx + cont)[len(ctx):]) for ctx, cont in pairs]
        assert s["loglikelihoods"] == expected
    assert len({tuple(s["loglikelihoods"]) for s in samples}) > 1  # the values depend on the item


@pytest.mark.usefixtures("api_ready")
@pytest.mark.parametrize("failure", ["http-500", "no-server"])
def test_failing_server_is_one_line_naming_the_server(tmp_path: Path, tiny_model: Path, failure: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    behaviour = StubBehaviour(tiny_model / "tokenizer.json", REFUSE_WORDS, fail_status=500)
    with serve(behaviour) as stub:
        url = stub.url
        if failure == "http-500":
            assert _api_run(tmp_path, url, tiny_model, tasks_dir() / "demo_data", "beavertails", 2) == 2
            assert len(stub.requests) == 1  # max_retries=1: no retry
    if failure == "no-server":
        assert _api_run(tmp_path, url, tiny_model, tasks_dir() / "demo_data", "pubmedqa", 2) == 2
    message = _error(capsys)
    assert message.startswith(f"hhh-eval run: error: model server {url} failed (") and "max_retries=" in message


# ---------------------------------------------------------------- hf on a GPU

@pytest.mark.gpu
def test_hf_runs_on_cuda_like_on_cpu(tmp_path: Path, tiny_model: Path) -> None:
    if not _cuda():
        pytest.skip("no CUDA GPU")
    lm = generate.load_lm(resolve_identity("hf", {"pretrained": str(tiny_model), "dtype": "float32"}), SETTINGS)
    assert str(lm.device).startswith("cuda")
    del lm
    common = ["--model", "hf", "--model-args", f"pretrained={tiny_model},dtype=float32", "--tasks", "pubmedqa",
              "--limit", "3", "--data-dir", str(tasks_dir() / "demo_data")]
    assert main(["run", *common, "--output-dir", str(tmp_path / "gpu")]) == 0
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(generate, "_device", lambda backend: "cpu")
        assert main(["run", *common, "--output-dir", str(tmp_path / "cpu")]) == 0
    on_gpu, on_cpu = (read_jsonl(next((tmp_path / d).glob("*/hhh-core.*")) / "samples" / "pubmedqa.jsonl")
                      for d in ("gpu", "cpu"))
    assert _flat(on_gpu) == pytest.approx(_flat(on_cpu), abs=1e-3)
