"""The generate stage: lm-eval runs one task on the model; we keep its per-item samples."""

from __future__ import annotations

import gc
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hhh_eval.datadir import apply_data_dir
from hhh_eval.errors import UserError
from hhh_eval.identity import ModelIdentity, install_hint
from hhh_eval.registry import TaskSpec
from hhh_eval.sampling import LimitMode, sample_doc_ids


@dataclass(frozen=True)
class GenerationSettings:
    """Everything besides model and task that changes what the model is asked and answers."""

    limit: int | None
    seed: int
    batch_size: str
    gen_kwargs: dict[str, Any] | None
    system_prompt: str | None
    limit_mode: LimitMode = "sample"  # with a limit: a seeded (stratified) sample, or lm-eval's first N


@dataclass(frozen=True)
class TaskOutput:
    samples: list[dict[str, Any]]
    n_total: int
    chat_template_applied: bool
    doc_ids: list[int] | None  # the documents evaluated (indices into the task's documents); None = all of them


def quiet_libraries() -> None:
    """Silence lm-eval's info logs and datasets' per-split bars (lm-eval's request bars: hhh_eval/progress.py)."""
    import datasets
    from transformers.utils import logging as transformers_logging

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()  # "Loading weights" and the like
    for name in ("lm_eval", "lm-eval", "transformers", "httpx"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _device(backend: str) -> str | None:
    """hf runs on the GPU when there is one, else on the CPU (lm-eval's own default assumes CUDA)."""
    if backend != "hf":
        return None
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_lm(identity: ModelIdentity, settings: GenerationSettings) -> Any:
    """Instantiate the lm-eval model once per run (trust_remote_code only when the args ask for it)."""
    from lm_eval.api.registry import get_model

    args = {"trust_remote_code": False, **identity.model_args} if identity.backend == "hf" else dict(identity.model_args)
    if identity.backend == "vllm":  # vLLM seeds its own sampler; use the run's seed unless the args name one
        args.setdefault("seed", settings.seed)
    try:
        cls = get_model(identity.backend)
    except (KeyError, ValueError) as exc:
        raise UserError(f"unknown backend '{identity.backend}' ({exc}); use hf, vllm, local-completions, ...") from None
    except ImportError as exc:  # lm-eval imports a backend's module (and vllm with it) only here
        raise _not_installed(identity.backend, exc) from None
    extra = {"batch_size": settings.batch_size, **({} if "device" in args else {"device": _device(identity.backend)})}
    try:
        lm = cls.create_from_arg_obj(args, extra)
    except ImportError as exc:  # API backends look for their packages only when constructed
        raise _not_installed(identity.backend, exc) from None
    except Exception as exc:  # the model's files or args: transformers, safetensors and the hub raise many kinds
        raise UserError(f"cannot load model '{identity.name}' with backend {identity.backend} "
                        f"({type(exc).__name__}: {_first_line(exc)}); check --model-args and the model's files") from None
    check_server(lm)
    return lm


def check_server(lm: Any, timeout: float = 10.0) -> None:
    """An API backend's server accepts connections (else a UserError naming it); other backends pass."""
    import socket
    from urllib.parse import urlsplit

    url = getattr(lm, "base_url", None)
    if not isinstance(url, str):
        return
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        with socket.create_connection((parts.hostname or "", port), timeout=min(timeout, getattr(lm, "timeout", timeout))):
            pass
    except (OSError, ValueError) as exc:
        raise UserError(f"model server {url} failed ({type(exc).__name__}: {_first_line(exc)}); check that it runs "
                        "and serves this model (base_url= in --model-args), or raise timeout= / max_retries=") from None


def _not_installed(backend: str, exc: ImportError) -> UserError:
    return UserError(f"backend '{backend}' is not installed ({_first_line(exc)}); {install_hint(backend)}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def free_memory() -> None:
    """Return a released model's memory (call once no reference to it is left) before a judge model loads."""
    gc.collect()
    torch = sys.modules.get("torch")  # only a run that loaded a model has torch to clean up
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def chat_template(lm: Any) -> str | None:
    """The model's chat template, if it has one (API completion backends have none)."""
    try:
        return lm.chat_template(True) or None
    except Exception:  # backends without a tokenizer or template raise various errors
        return None


def uses_chat_format(lm: Any) -> bool:
    """Whether generation prompts go through a chat template: the model has one, or a chat API applies its own."""
    try:
        from lm_eval.models.openai_completions import LocalChatCompletion
    except ImportError:  # the API extra is not installed, so lm is no chat API model
        return chat_template(lm) is not None
    return isinstance(lm, LocalChatCompletion) or chat_template(lm) is not None


def task_config(spec: TaskSpec, data_dir: Path | None) -> dict[str, Any]:
    """The resolved lm-eval config of a task (hooks imported), loading from the data dir if one is set."""
    from lm_eval.tasks._yaml_loader import load_yaml

    return apply_data_dir(load_yaml(spec.yaml_path, resolve_func=True), data_dir, spec.yaml_path.parent)


def build_task(spec: TaskSpec, data_dir: Path | None) -> Any:
    """lm-eval's Task object for one of our tasks (its dataset loaded)."""
    from lm_eval.tasks import TaskManager

    try:
        return TaskManager(include_defaults=False).load([task_config(spec, data_dir)])["tasks"][spec.name]
    except OSError as exc:
        raise UserError(f"cannot load dataset {spec.dataset_path} for task {spec.name} ({type(exc).__name__}: "
                        f"{_first_line(exc)}); offline? pass --data-dir DIR (DIR/hub/<org>/<name>/<config>/<split>.jsonl) "
                        "or set HHH_EVAL_DATA_DIR") from None


def _check_field(spec: TaskSpec, docs: Any, field: str, what: str) -> None:
    """A field the task file names is a field of its documents, else a UserError listing the fields."""
    columns = getattr(docs, "column_names", None) or (list(docs[0]) if len(docs) else [])
    if field not in columns:
        raise UserError(f"task {spec.name}: {what} '{field}' is not a field of its documents; fields: "
                        f"{', '.join(columns)} (fix metadata.{what} in {spec.yaml_path})")


def _field_values(spec: TaskSpec, docs: Any, field: str, what: str) -> list[Any]:
    """Every document's value of a field the task file names (a missing field or value is a UserError)."""
    _check_field(spec, docs, field, what)
    values = list(docs[field]) if hasattr(docs, "column_names") else [d[field] for d in docs]
    if (n_null := sum(v is None for v in values)):
        raise UserError(f"task {spec.name}: {n_null} of {len(values)} documents have no {what} '{field}' value; "
                        "fill them in or drop the field from the task file")
    return values


def choose_docs(spec: TaskSpec, docs: Any, settings: GenerationSettings) -> list[int] | None:
    """The documents a run evaluates (None = all); checks the task's category and prompt fields on the data."""
    categories = _field_values(spec, docs, spec.category_field, "category_field") if spec.category_field else None
    if spec.prompt_field:
        _field_values(spec, docs, spec.prompt_field, "prompt_field")
    if spec.cluster_field:  # empty or missing values are clusters of one item
        _check_field(spec, docs, spec.cluster_field, "cluster_field")
    if settings.limit is None or settings.limit >= len(docs):
        return None
    strata = [str(c) for c in categories] if categories is not None else None
    return sample_doc_ids(len(docs), settings.limit, settings.seed, strata, settings.limit_mode)


def _sample_row(raw: dict[str, Any]) -> dict[str, Any]:
    """Our per-item record: doc, prompt, answer or log-likelihoods, per-item metrics."""
    args = raw["arguments"]
    row: dict[str, Any] = {
        "doc_id": int(raw["doc_id"]),
        "doc_hash": raw["doc_hash"],
        "prompt_hash": raw["prompt_hash"],
        "doc": raw["doc"],
        "prompt": args[0][0],
        "target": raw["target"],
        "metrics": {m: raw[m] for m in raw.get("metrics", []) if m != "bypass"},
    }
    if isinstance(args[0][1], dict):  # generate_until: (context, gen_kwargs)
        row["response"] = raw["filtered_resps"][0]
    else:  # loglikelihood requests: (context, continuation)
        row["choices"] = [a[1] for a in args]
        row["loglikelihoods"] = [float(r[0]) for r in raw["filtered_resps"]]
    return row


def _server_failure(exc: Exception, lm: Any) -> UserError | None:
    """A failed call to an API backend's server (requests / aiohttp errors, timeouts) as a UserError, else None."""
    url = getattr(lm, "base_url", None)
    client_error = type(exc).__module__.partition(".")[0] in ("requests", "aiohttp") or isinstance(exc, TimeoutError)
    if not url or not client_error:
        return None
    return UserError(f"model server {url} failed ({type(exc).__name__}: {_first_line(exc)}); check that it runs and "
                     "serves this model, or raise timeout= / max_retries= in --model-args")


@dataclass(frozen=True)
class PreparedTask:
    """A task with its dataset loaded and its documents chosen, ready to run."""

    spec: TaskSpec
    task: Any  # lm-eval's Task
    doc_ids: list[int] | None  # None: every document

    @property
    def n_items(self) -> int:
        return len(self.task.eval_docs) if self.doc_ids is None else len(self.doc_ids)


def prepare_task(spec: TaskSpec, data_dir: Path | None, settings: GenerationSettings) -> PreparedTask:
    """Load a task's dataset and choose its documents (checks the task's fields on the data); no model call."""
    task = build_task(spec, data_dir)
    return PreparedTask(spec, task, choose_docs(spec, task.eval_docs, settings))


def run_task(lm: Any, prepared: PreparedTask, settings: GenerationSettings, cache_path: Path) -> TaskOutput:
    """Run one prepared task through lm-eval's simple_evaluate on a loaded model."""
    from unittest import mock

    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    spec, task, doc_ids = prepared.spec, prepared.task, prepared.doc_ids
    use_chat = spec.output_type == "generate_until" and uses_chat_format(lm)
    # lm-eval records the git hash of the current folder (noise on stderr outside a repo); the card has ours
    no_git = mock.patch("lm_eval.evaluator.get_git_commit_hash", return_value=None)
    try:
        with no_git:
            result = simple_evaluate(
                model=lm, tasks=[task], samples={spec.name: doc_ids} if doc_ids else None, log_samples=True,
                bootstrap_iters=0, use_cache=str(cache_path), apply_chat_template=use_chat,
                system_instruction=settings.system_prompt if use_chat else None,
                gen_kwargs=settings.gen_kwargs if spec.output_type == "generate_until" else None,
                random_seed=settings.seed, numpy_random_seed=settings.seed, torch_random_seed=settings.seed,
                fewshot_random_seed=settings.seed, task_manager=TaskManager(include_defaults=False),
            )
    except Exception as exc:
        if type(exc).__name__ == "DatasetGenerationError":  # datasets could not build the split from its files
            raise UserError(f"cannot load the data of task {spec.name} ({_first_line(exc.__cause__ or exc)}); "
                            "check its data file (one JSON object per line, the same fields on every line)") from None
        if (failure := _server_failure(exc, lm)) is None:
            raise
        raise failure from None
    samples = [_sample_row(s) for s in result["samples"][spec.name]]
    return TaskOutput(sorted(samples, key=lambda s: s["doc_id"]), len(task.eval_docs), use_chat, doc_ids)
