"""A tiny randomly initialised chat model, built in the test session (no download, seconds)."""

from __future__ import annotations

from pathlib import Path

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_CORPUS = [
    "Write a short poem about the sea. Explain why the sky is blue. Score: 4",
    "The answer is relevant and helpful. Score: 3 Winner: Judgment A Judgement B",
    "Review the user's question and the corresponding response using the additive 5-point scoring system.",
    "Add 1 point if the response is relevant. User: response: Judgment A: Judgment B:",
    "0 1 2 3 4 5 6 7 8 9 . , ! ? : ; ' \" ( ) { } [ ] < > / - + = * # @ & % $",
]


def build_tiny_model(target: Path, seed: int = 0, *, hidden_size: int = 32, heads: int = 4, kv_heads: int = 2) -> Path:
    """Save a 2-layer Llama with a small byte-level BPE tokenizer and a ChatML template.

    vLLM's CPU attention takes only some head sizes (64 is one): its tests ask for
    ``hidden_size=128, heads=2, kv_heads=1``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_CORPUS * 4, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<|im_end|>", unk_token="<|endoftext|>")
    tokenizer.chat_template = CHATML
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=heads, num_key_value_heads=kv_heads, max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)
    return target
