"""Model arguments are checked against what lm-eval and transformers take; what they take is read from their
signatures once per library version and then from hhh-eval's cache, so a cached run does not import them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hhh_eval.identity import CACHE_DIR_ENV

ROOT = Path(__file__).resolve().parent.parent
CHECK = """
import sys
from pathlib import Path
from hhh_eval.errors import UserError
from hhh_eval.model_args import check_model_args, check_gen_kwargs
model = Path(sys.argv[1])
check_model_args("hf", {"pretrained": str(model), "dtype": "float32", "max_length": 64}, model)
check_gen_kwargs({"top_k": 5}, "hf", {"generate_until"})
refused = []
for args in ({"foo": 1}, {"max_length": "abc"}, {"backend": "decoder"}):
    try:
        check_model_args("hf", {"pretrained": str(model), **args}, model)
    except UserError as err:
        refused.append(str(err).split(";")[0])
try:
    check_gen_kwargs({"colour": 1}, "hf", {"generate_until"})
except UserError as err:
    refused.append(str(err).split(" is ")[0])
print(refused)
print(sorted(m for m in ("torch", "transformers", "lm_eval.models.huggingface") if m in sys.modules))
"""


def _check(cache: Path, model: Path) -> list[str]:
    proc = subprocess.run([sys.executable, "-c", CHECK, str(model)], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, CACHE_DIR_ENV: str(cache)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip().splitlines()[-2:]


REFUSED = ("[\"--model-args: backend hf takes no argument 'foo'\", '--model-args max_length=abc must be int, "
           "not str', '--model-args backend=decoder is not one of default, causal, seq2seq', \"--gen-kwargs: 'colour'\"]")


def test_signatures_are_read_once_then_from_the_cache(tmp_path: Path, tiny_model: Path) -> None:
    cache = tmp_path / "cache"
    refused, imported = _check(cache, tiny_model)
    assert refused == REFUSED and imported == "['lm_eval.models.huggingface', 'torch', 'transformers']"
    assert sorted(p.name.split("-")[0] for p in (cache / "signatures").iterdir()) == \
        ["config", "from", "generation", "params"]
    refused, imported = _check(cache, tiny_model)
    assert refused == REFUSED and imported == "[]"  # the same answers without the imports


def test_a_broken_cache_entry_is_read_again_from_the_libraries(tmp_path: Path, tiny_model: Path) -> None:
    cache = tmp_path / "cache"
    _check(cache, tiny_model)
    entries = sorted((cache / "signatures").iterdir())
    for i, entry in enumerate(entries):
        entry.write_text("{not json" if i % 2 else json.dumps({"depends_on": [], "value": 7}))
    refused, imported = _check(cache, tiny_model)
    assert refused == REFUSED and "transformers" in imported
    assert all(isinstance(json.loads(e.read_text())["value"], (list, dict)) for e in entries)
