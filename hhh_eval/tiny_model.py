"""A tiny causal LM built locally (random weights, a byte-level BPE tokenizer trained on a few lines, a chat
template). It makes the demo and the tests run offline in seconds; its scores mean nothing."""

from __future__ import annotations

import json
from pathlib import Path

from hhh_eval.fileio import atomic_write_text

TINY_VERSION = "2"
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
_SPECIALS = ["<|endoftext|>", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>"]
_FIRST_MERGE = len(_SPECIALS) + 256  # ids below: special tokens and the 256 byte tokens
_CORPUS = [
    "Question: Is the answer yes, no or maybe? Answer: yes",
    "The patient was treated and the results were significant.",
    "I cannot help with that request, but I can offer safer information.",
    "Q: What is the capital of France? A: Paris is the capital of France.",
    "Revenue rose sharply while operating profit fell in the quarter.",
    "Sorry, I can't assist with that. Here is how to stay safe instead.",
    "The quick brown fox jumps over the lazy dog.",
]


def _train_tokenizer(out: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=_SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", bos_token="<|endoftext|>",
                                   pad_token="<|endoftext|>", model_max_length=2048)
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)


def build_tiny_model(out: Path, seed: int = 0) -> Path:
    """Write the tiny model to `out` (idempotent: an existing complete build is reused)."""
    out = Path(out)
    marker = out / "hhh_tiny.json"
    if marker.is_file() and json.loads(marker.read_text()).get("version") == TINY_VERSION:
        return out
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # "Writing model shards": not the user's business

    out.mkdir(parents=True, exist_ok=True)
    _train_tokenizer(out)
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=400, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=2048,
                         bos_token_id=0, eos_token_id=0, pad_token_id=0, tie_word_embeddings=True,
                         initializer_range=0.5)
    model = LlamaForCausalLM(config)
    with torch.no_grad():  # shrink special and single-byte tokens so greedy output is word pieces, not raw bytes
        model.model.embed_tokens.weight[1:_FIRST_MERGE] *= 0.05
    model.save_pretrained(out)
    atomic_write_text(marker, json.dumps({"version": TINY_VERSION, "seed": seed}) + "\n")
    return out
