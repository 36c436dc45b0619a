"""`key=value,...` arguments (--model-args, --gen-kwargs), parsed strictly and checked against what the backend takes.

A model argument reaches lm-eval's model class (its constructor's parameters) and, for hf, transformers'
`from_pretrained` and the model's config; anything else would fail deep inside them, after the run folder was
made. Checking here turns that into one line that lists what is allowed.

What the libraries take is read from their signatures, which imports torch, transformers and lm-eval's model
classes (seconds); it is remembered on disk per library version (<cache root>/signatures), so a run whose answers
are all cached checks its arguments without those imports.
"""

from __future__ import annotations

import inspect
import json
import math
import re
from collections.abc import Callable
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from hhh_eval.errors import UserError
from hhh_eval.fileio import atomic_write_text, dumps, sha256_text

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# set by the run itself (--batch-size, the device the run picks): giving them here would clash
RUN_SET_ARGS = {"batch_size": "--batch-size"}
DTYPE_ARGS = ("dtype", "torch_dtype", "softmax_dtype", "mixed_precision_dtype")


def parse_kv(text: str, flag: str) -> dict[str, Any]:
    """'a=1,b=x' -> {'a': 1, 'b': 'x'}; values typed by lm-eval's own rules (ints, floats, booleans, None).

    Every comma-separated item must be KEY=VALUE with a name as KEY, each key once (a value may contain '=').
    """
    from lm_eval.utils import handle_arg_string

    out: dict[str, Any] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not _KEY.match(key):
            what = "an empty item (two commas in a row?)" if not item.strip() else f"item '{item}'"
            raise UserError(f"{flag} '{text}' has {what}; write KEY=VALUE pairs separated by single commas, "
                            "e.g. pretrained=org/name,dtype=bfloat16")
        if key in out:
            raise UserError(f"{flag} '{text}' sets {key} twice; keep one {key}=VALUE")
        out[key] = handle_arg_string(value)
    return out


T = TypeVar("T")
# a parameter's annotation as text: (the name its types are read from, the full text a Literal is read from)
Annotation = tuple[str, str] | None


def _remembered(kind: str, depends_on: list[str], compute: Callable[[], T]) -> T:
    """compute() (a JSON list or mapping), kept on disk under what it depends on (library versions, a file's hash);
    a missing, unreadable, mismatched or unwritable entry only costs computing it again. None is not kept (e.g. a
    backend that cannot be imported)."""
    from hhh_eval.identity import cache_root

    entry = cache_root() / "signatures" / f"{kind}-{sha256_text(dumps(depends_on))[:24]}.json"
    try:
        doc = json.loads(entry.read_text(encoding="utf-8"))
        if doc["depends_on"] == depends_on and isinstance(doc["value"], (list, dict)):
            return doc["value"]  # type: ignore[no-any-return]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    value = compute()
    if value is not None:
        try:
            atomic_write_text(entry, dumps({"depends_on": depends_on, "value": value}) + "\n")
        except UserError:
            pass
    return value


def _version(package: str) -> str:
    try:
        return f"{package} {metadata.version(package)}"
    except metadata.PackageNotFoundError:
        return f"{package} not installed"


def _annotation(p: inspect.Parameter) -> Annotation:
    a = p.annotation
    if a is inspect.Parameter.empty:
        return None
    return (a, a) if isinstance(a, str) else (getattr(a, "__name__", str(a)), str(a))


def _params(cls: type) -> dict[str, Annotation]:
    """Named keyword parameters of a class's constructors along its MRO (most derived first), with annotations."""
    named: dict[str, Annotation] = {}
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        for name, p in inspect.signature(init).parameters.items():
            if p.kind in kinds and name != "self":
                named.setdefault(name, _annotation(p))
    return named


def _backend_params(backend: str) -> dict[str, Annotation] | None:
    """The model class's constructor parameters for a backend; None when its module cannot be imported (it is
    reported when the model loads)."""
    def compute() -> dict[str, Annotation] | None:
        from lm_eval.api.registry import get_model

        try:
            return _params(get_model(backend))
        except Exception:
            return None

    found = _remembered("params", [_version("lm_eval"), backend], compute)
    return None if found is None else {k: None if v is None else (v[0], v[1]) for k, v in found.items()}


def _from_pretrained_args() -> frozenset[str]:
    """What transformers' from_pretrained takes besides the config: its parameters and the kwargs it pops."""
    def compute() -> list[str]:
        from transformers import PreTrainedModel

        method = PreTrainedModel.from_pretrained
        named = set(inspect.signature(method).parameters) - {"pretrained_model_name_or_path", "model_args", "kwargs"}
        popped = re.findall(r'kwargs\.pop\(\s*"([a-z]\w*)"', inspect.getsource(method))
        return sorted(named | set(popped))

    return frozenset(_remembered("from-pretrained", [_version("transformers")], compute))


def _config_keys(model_dir: Path | None) -> frozenset[str] | None:
    """Attributes of a local model's config (hf passes unknown model args to it), or None when not on disk."""
    if model_dir is None or not (model_dir / "config.json").is_file():
        return None
    try:
        text = (model_dir / "config.json").read_text(encoding="utf-8")
    except OSError:
        return None

    def compute() -> list[str] | None:
        try:
            from transformers import AutoConfig

            config = AutoConfig.from_pretrained(model_dir, local_files_only=True)
            return sorted(set(config.to_dict()) | set(getattr(config, "attribute_map", {})))
        except Exception:  # custom or broken configs: fall back to the keys the file itself sets
            try:
                return sorted(json.loads(text))
            except (ValueError, TypeError):
                return None

    found = _remembered("config-keys", [_version("transformers"), sha256_text(text)], compute)
    return None if found is None else frozenset(found)


def _extra_targets(backend: str, model_dir: Path | None) -> tuple[frozenset[str], str] | None:
    """Where a backend sends keyword args its constructor does not name: (allowed keys, description); None: unknown."""
    from hhh_eval.identity import API_BACKENDS

    if backend == "hf":
        config = _config_keys(model_dir)
        if config is None:
            return None
        return _from_pretrained_args() | config, "from_pretrained options or model config attributes"
    if backend in API_BACKENDS:
        return frozenset(), ""  # lm-eval's API models ignore unknown arguments
    return None


def _types_of(annotation: Annotation) -> set[str] | None:
    """Python types an annotation admits, as names (None: anything)."""
    if annotation is None:
        return None
    text = annotation[0]
    if "Any" in text or "str" in text:
        return None
    return set(re.findall(r"\b(int|float|bool|None|dict|list)\b", text)) or None


def _type_name(value: Any) -> str:
    return "None" if value is None else type(value).__name__


def _check_value(key: str, value: Any, annotation: Annotation) -> None:
    literal = re.search(r"Literal\[(.*?)\]", annotation[1]) if annotation else None
    if literal:
        allowed = [v.strip(" '\"") for v in literal.group(1).split(",")]
        if str(value) not in allowed:
            raise UserError(f"--model-args {key}={value} is not one of {', '.join(allowed)}")
        return
    types = _types_of(annotation)
    kind = _type_name(value)
    ok = types is None or kind in types or (kind == "int" and "float" in types)
    if not ok:
        raise UserError(f"--model-args {key}={value} must be {' or '.join(sorted(types - {'None'}))}, "
                        f"not {kind}")


COMMON_DTYPES = ("auto", "float32", "float16", "bfloat16", "float64", "float", "half", "double")  # no torch import


def check_dtype(key: str, value: Any) -> None:
    """A dtype argument is 'auto' or a torch dtype name (float16, bfloat16, float32, ...)."""
    if value is None or value in COMMON_DTYPES:
        return
    import torch

    if isinstance(getattr(torch, str(value), None), torch.dtype):
        return
    raise UserError(f"--model-args {key}={value} is not a torch dtype; use auto, bfloat16, float16 or float32 "
                    "(any torch dtype name)")


def check_run_model_args(args: dict[str, Any]) -> dict[str, Any]:
    """`args` unless they set what the run sets itself (the batch size: the card records --batch-size)."""
    for key, flag in RUN_SET_ARGS.items():
        if key in args:
            raise UserError(f"--model-args sets {key}; pass {flag} instead (the run records it)")
    return args


def check_model_args(backend: str, args: dict[str, Any], model_dir: Path | None) -> None:
    """Every model argument is one the backend takes, with a value of the right type (UserError listing them)."""
    for key in DTYPE_ARGS:
        if key in args and backend in ("hf", "vllm"):
            check_dtype(key, args[key])
    params = _backend_params(backend)
    if params is None:  # a backend whose module cannot be imported is reported when it loads
        return
    for key, value in args.items():
        if key in params:
            _check_value(key, value, params[key])
    extra = _extra_targets(backend, model_dir)
    unknown = sorted(k for k in args if k not in params and (extra is None or k not in extra[0]))
    if extra is not None and unknown:
        where = f" (or {extra[1]})" if extra[1] else ""
        raise UserError(f"--model-args: backend {backend} takes no argument {', '.join(map(repr, unknown))}; "
                        f"it takes {', '.join(sorted(set(params) - set(RUN_SET_ARGS)))}{where}")


def finite_number(flag: str, key: str, value: Any, low: float, strict: bool) -> float:
    """`value` as a float that is finite and above (or at) `low`, else a UserError."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < low or (strict and value == low):
        bound = f"{'above' if strict else 'at least'} {low:g}"
        raise UserError(f"{flag} {key}={value} must be a finite number {bound}")
    return float(value)


# ---------------------------------------------------------------- generation arguments (--gen-kwargs)

LM_EVAL_GEN_KEYS = ("until", "max_gen_toks", "do_sample", "temperature")  # read by lm-eval on every backend
_GEN_FLAG = "--gen-kwargs"
# sampling settings transformers' logits processors reject outside these ranges: key -> (low, strict, high)
_RANGES = {"top_p": (0.0, True, 1.0), "min_p": (0.0, False, 1.0), "typical_p": (0.0, True, 1.0),
           "repetition_penalty": (0.0, True, math.inf)}
_POSITIVE_INTS = ("max_gen_toks", "top_k", "num_beams")


def _positive_int(key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if key == "top_k" else 1):
        raise UserError(f"{_GEN_FLAG} {key}={value} must be a {'non-negative' if key == 'top_k' else 'positive'} "
                        "integer")


def parse_gen_kwargs(text: str) -> dict[str, Any]:
    """Generation overrides from 'k=v,...', checked where lm-eval or transformers would fail mid-run."""
    kwargs = parse_kv(text, _GEN_FLAG)
    for key in ("max_length", "max_new_tokens", "max_tokens"):
        if key in kwargs:
            raise UserError(f"{_GEN_FLAG} {key}= is not read the same way by every backend; use max_gen_toks=N")
    for key in _POSITIVE_INTS:
        if key in kwargs:
            _positive_int(key, kwargs[key])
    for key, (low, strict, high) in _RANGES.items():
        if key in kwargs and finite_number(_GEN_FLAG, key, kwargs[key], low, strict) > high:
            raise UserError(f"{_GEN_FLAG} {key}={kwargs[key]} must be at most {high:g}")
    if "do_sample" in kwargs and not isinstance(kwargs["do_sample"], bool):
        raise UserError(f"{_GEN_FLAG} do_sample={kwargs['do_sample']} must be true or false")
    temperature = kwargs.get("temperature")
    if temperature is not None:
        finite_number(_GEN_FLAG, "temperature", temperature, 0.0, strict=False)
    if kwargs.get("do_sample") is True and not temperature:
        raise UserError(f"{_GEN_FLAG} do_sample=true needs a temperature above 0 (lm-eval samples at temperature 0 "
                        "otherwise, which fails); add e.g. temperature=0.7")
    return kwargs


@cache
def _generation_config_keys() -> frozenset[str]:
    def compute() -> list[str]:
        from transformers import GenerationConfig

        return sorted(k for k in GenerationConfig().to_dict() if not k.startswith("_"))

    return frozenset(_remembered("generation-config", [_version("transformers")], compute))


def check_gen_kwargs(kwargs: dict[str, Any] | None, backend: str, output_types: set[str]) -> None:
    """Generation overrides fit the run: some task generates, and (hf) each key is a transformers generation setting."""
    if not kwargs:
        return
    if "generate_until" not in output_types:
        raise UserError(f"{_GEN_FLAG} only changes generated answers and none of the run's tasks generates "
                        "(they score options by log-likelihood); drop --gen-kwargs")
    if backend == "hf":
        allowed = set(LM_EVAL_GEN_KEYS) | _generation_config_keys()
        unknown = sorted(k for k in kwargs if k not in allowed)
        if unknown:
            raise UserError(f"{_GEN_FLAG}: {', '.join(map(repr, unknown))} is no generation setting of lm-eval or "
                            "transformers; use e.g. max_gen_toks, temperature, do_sample, top_p, top_k, "
                            "repetition_penalty (any transformers GenerationConfig field)")
