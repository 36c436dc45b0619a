"""What model-backed judges share: the judge's lm-eval model, loaded on first use and freed after, batched calls.

The model is built from a judge spec's backend and model args through lm-eval's registry, so hf, vllm and
API backends all work, and it is asked through lm-eval's model interface: one `generate_until` call and one
`loglikelihood` call per batch of items (identical requests in a batch are sent once). Verdicts are cached
across runs by the judge stage (hhh_eval/judging.py), keyed by the judge identity built here: its hash covers
the model (hub id@revision, or local path@fingerprint), every setting that shapes the prompt, the decoding and
the parsing, the threshold, strip_think, and the source of the judge code that turns output into verdicts.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from hhh_eval.errors import UserError
from hhh_eval.fileio import dumps, sha256_bytes, sha256_text
from hhh_eval.identity import API_BACKENDS, NON_IDENTITY_ARGS, fingerprint_dir, parse_model_args
from hhh_eval.judges.base import JudgeIdentity, JudgeItem, Verdict, definition_sha256
from hhh_eval.judges.specs import JudgeSpec

EMPTY_RESPONSE = Verdict(label=None, reason="empty response")  # nothing to judge: unscored, no model call


@dataclass(frozen=True)
class JudgeModelConfig:
    """The judge model as a spec declares it: backend, model args, batch size, chat template variables."""

    backend: str
    model_args: dict[str, Any]
    batch_size: str = "auto"
    chat_template_args: dict[str, Any] | None = None

    @classmethod
    def from_spec(cls, spec: JudgeSpec) -> JudgeModelConfig:
        assert spec.backend and spec.model_args, "JudgeSpec validation requires both for model judges"
        return cls(spec.backend, parse_model_args(spec.model_args), spec.batch_size, spec.chat_template_args)

    @property
    def name(self) -> str:
        return str(self.model_args.get("pretrained") or self.model_args.get("model") or "")


def _cached_hub_revision(repo_id: str, revision: str | None) -> str | None:
    """The commit of a hub model in the local HF cache (no network), or None when it is not cached."""
    try:
        from huggingface_hub import snapshot_download

        snapshot = snapshot_download(repo_id, revision=revision, local_files_only=True, allow_patterns=["config.json"])
    except Exception:  # not cached, not a hub id, or huggingface_hub missing: the revision is simply unknown
        return None
    return Path(snapshot).name


def model_label(config: JudgeModelConfig) -> str:
    """The judge model for the card: local path@fingerprint, or hub id@revision when the revision is known."""
    name = config.name
    path = Path(name).expanduser()
    if config.backend not in API_BACKENDS and path.is_dir():
        return f"{path.resolve()}@{fingerprint_dir(path)[:16]}"
    given = config.model_args.get("revision")
    revision = given if config.backend in API_BACKENDS else _cached_hub_revision(name, given) or given
    return f"{name}@{revision}" if revision else name


def code_sha256(*modules: str) -> str:
    """sha256 of the source files of `modules` (the judge code that turns model output into verdicts)."""
    sources = [Path(str(sys.modules[name].__file__)).read_bytes() for name in dict.fromkeys(modules)]
    return sha256_bytes(b"\0".join(sources))


def judge_identity(spec: JudgeSpec, config: JudgeModelConfig, settings: dict[str, Any],
                   code: str = "") -> JudgeIdentity:
    """A model judge's identity; `settings` is everything of the prompt format, decoding and parsing, `code` the
    hash of the judge's source (see code_sha256)."""
    args = {k: v for k, v in config.model_args.items() if k not in NON_IDENTITY_ARGS}
    fmt = {"backend": config.backend, "model_args": args, "chat_template_args": config.chat_template_args, **settings}
    model = model_label(config)
    definition = {"type": spec.type, "kind": spec.kind, "model": model, "format": fmt, "threshold": spec.threshold,
                  "strip_think": spec.strip_think, "code_sha256": code}
    return JudgeIdentity(name=spec.name, version=spec.version, kind=spec.kind, model=model,
                         prompt_sha256=sha256_text(dumps(fmt)), threshold=spec.threshold,
                         identity_sha256=definition_sha256(definition), source=spec.source)


def _device(backend: str) -> str | None:
    if backend != "hf":
        return None
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_judge_lm(config: JudgeModelConfig) -> Any:
    """Instantiate the judge's lm-eval model (trust_remote_code only when the model args ask for it)."""
    from lm_eval.api.registry import get_model

    args = dict(config.model_args)
    if config.backend == "hf":
        args.setdefault("trust_remote_code", False)
    if config.chat_template_args:
        args["chat_template_args"] = dict(config.chat_template_args)
    try:
        cls = get_model(config.backend)
    except (KeyError, ValueError) as exc:
        known = "use hf, vllm, local-completions, ..."
        raise UserError(f"unknown judge backend '{config.backend}' ({exc}); {known}") from None
    except ImportError as exc:
        raise UserError(f"judge backend '{config.backend}' is not installed ({exc}); for vllm: "
                        "pip install -e '.[vllm]'") from None
    print(f"loading judge model {config.name} ({config.backend})", file=sys.stderr)
    try:
        return cls.create_from_arg_obj(args, {"batch_size": config.batch_size, "device": _device(config.backend)})
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot load judge model '{config.name}' with backend {config.backend}: {first}") from None


def _instances(request_type: str, arguments: list[tuple[Any, ...]]) -> list[Any]:
    from lm_eval.api.instance import Instance

    return [Instance(request_type=request_type, doc={}, arguments=a, idx=0, metadata=("judge", i, 1))
            for i, a in enumerate(arguments)]


def _unique(values: list[Any]) -> tuple[list[Any], list[int]]:
    """Distinct values in first-seen order, and each value's index among them."""
    position: dict[Any, int] = {}
    index = [position.setdefault(v, len(position)) for v in values]
    return list(position), index


class JudgeModel:
    """The judge's lm-eval model, built by `load` on first use and freed when the batch (or session) ends."""

    def __init__(self, config: JudgeModelConfig, load: Callable[[JudgeModelConfig], Any] = load_judge_lm) -> None:
        self.config = config
        self._load = load
        self._lm: Any = None
        self._sessions = 0  # open sessions; the model is freed when the last one closes

    @property
    def is_loaded(self) -> bool:
        return self._lm is not None

    @contextmanager
    def session(self) -> Iterator[JudgeModel]:
        """Keep the model loaded across several batches (e.g. one per task); freed when the session ends."""
        self._sessions += 1
        try:
            yield self
        finally:
            self._sessions -= 1
            if not self._sessions:
                self.release()

    def release(self) -> None:
        """Free the model's memory (a later call loads it again)."""
        from hhh_eval.generate import free_memory

        if self._lm is not None:
            self._lm = None
            free_memory()

    def _model(self) -> Any:
        if self._lm is None:
            self._lm = self._load(self.config)
        return self._lm

    def chat(self, messages: list[dict[str, str]]) -> str | None:
        """The conversation in the model's own chat template, ready for its reply (None: it has no template)."""
        from hhh_eval.generate import chat_template

        from jinja2 import TemplateError

        lm = self._model()
        if chat_template(lm) is None:
            return None
        try:
            return lm.apply_chat_template(messages, add_generation_prompt=True)
        except TemplateError as exc:
            raise UserError(f"the judge model {self.config.name}'s chat template cannot format the conversation "
                            f"({exc}); check the judge's model_args and chat_template_args") from None

    def generate(self, contexts: list[str], max_gen_toks: int) -> list[str]:
        """Greedy continuations of every context: one generate_until call."""
        if not contexts:
            return []
        distinct, index = _unique(contexts)
        kwargs = {"until": [], "do_sample": False, "temperature": 0.0, "max_gen_toks": max_gen_toks}
        outputs = self._model().generate_until(_instances("generate_until", [(c, dict(kwargs)) for c in distinct]))
        return [outputs[i] for i in index]

    def loglikelihoods(self, pairs: list[tuple[str, str]]) -> list[float]:
        """log P(continuation | context) for every pair: one loglikelihood call."""
        if not pairs:
            return []
        distinct, index = _unique(pairs)
        results = self._model().loglikelihood(_instances("loglikelihood", distinct))
        return [float(results[i][0]) for i in index]


class ModelJudge:
    """A judge backed by a model: subclasses say how a batch is asked and read, and what shapes the answer.

    `judge` loads the model when first needed and frees it when done; wrap several calls in `session()` to
    load it once for all of them. Empty answers are unscored without asking the model.
    """

    default_max_gen_toks: int  # judge output length unless the spec sets max_gen_toks

    def __init__(self, spec: JudgeSpec, model: JudgeModel | None = None) -> None:
        self.spec = spec
        self.model = model or JudgeModel(JudgeModelConfig.from_spec(spec))
        self.max_gen_toks = spec.max_gen_toks or self.default_max_gen_toks

    @cached_property
    def identity(self) -> JudgeIdentity:
        settings = {"max_gen_toks": self.max_gen_toks, **self.settings()}
        return judge_identity(self.spec, self.model.config, settings, code_sha256(__name__, type(self).__module__))

    def settings(self) -> dict[str, Any]:
        """The judge's prompt format and parsing rules, as recorded in its identity."""
        raise NotImplementedError

    def judge_batch(self, items: list[JudgeItem]) -> list[Verdict]:
        """Verdicts for non-empty answers, asking the model once per request type."""
        raise NotImplementedError

    def session(self) -> Any:
        return self.model.session()

    def judge(self, items: list[JudgeItem]) -> list[Verdict]:
        todo = [i for i, item in enumerate(items) if item.response.strip()]
        verdicts = [EMPTY_RESPONSE] * len(items)
        if todo:
            with self.model.session():
                for i, verdict in zip(todo, self.judge_batch([items[i] for i in todo]), strict=True):
                    verdicts[i] = verdict
        return verdicts
