"""Judging: ours vs one ``generate`` per candidate with ``num_return_sequences=samples``.

The request is the paper's judge prompt (SR Fig. 2, ``additive_5pt``) around IFT seed answers;
reports judgments/s and the ratio, plus how many judgments had a parsable score.
"""

from __future__ import annotations

from common import ift_rows, parser, plain_generate, setup, side_by_side, summary, write_result


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--candidates", type=int, default=10, help="candidates to judge")
    p.add_argument("--max-new-tokens", type=int, default=0, help="token limit (0 = the config's)")
    args = p.parse_args()
    config, model, tokenizer = setup(args)

    from srlm.backends.base import Sampling
    from srlm.backends.transformers_backend import TransformersBackend
    from srlm.judging.parse import parse_score
    from srlm.judging.templates import load_template
    from srlm.stages.judgments import judge_conversation

    cfg = config.judge
    limit = args.max_new_tokens or cfg.max_new_tokens
    template = load_template(cfg.template, ("prompt", "response"))
    backend = TransformersBackend(model, tokenizer, batch_size=config.backend.batch_size)
    requests = [judge_conversation(template, row["prompt"], row["response"]) for row in ift_rows(args.candidates)]
    sampling = Sampling(temperature=cfg.temperature, top_p=cfg.top_p, max_new_tokens=limit, n=cfg.samples)
    # One unit = one generate call of the judgments stage (batch_size // samples candidates).
    per_call = max(1, config.backend.batch_size // cfg.samples)
    chunks = [requests[i : i + per_call] for i in range(0, len(requests), per_call)]

    def counts(outputs: list[list[int]]) -> dict:
        texts = [tokenizer.decode(ids, skip_special_tokens=True) for ids in outputs]
        return {"judgments": len(texts), "parsed": sum(parse_score(t) is not None for t in texts), "tokens": sum(map(len, outputs))}

    def ours(chunk: list) -> dict:
        return counts([ids for samples in backend.generate_ids(chunk, sampling) for ids in samples])

    def baseline(chunk: list) -> dict:
        return counts([ids for r in chunk for ids in plain_generate(model, tokenizer, backend.encode(r), cfg.samples, sampling, backend.stop_ids)])

    warm = [[{"role": "user", "content": "Hi"}]]
    ours(warm), baseline(warm)
    units = [(lambda c=c: ours(c), lambda c=c: baseline(c)) for c in chunks]
    mine, theirs, speedups = side_by_side(units, args.repeats, "judgments")
    write_result("judging", {
        "what": "judgments/s with the SR judge prompt (additive 5-point)",
        "model": args.model,
        "settings": {"candidates": len(requests), "samples": cfg.samples, "temperature": cfg.temperature, "top_p": cfg.top_p, "max_new_tokens": limit, "batch_size": config.backend.batch_size, "candidates_per_call": per_call, "prompt_tokens": [len(backend.encode(r)) for r in requests], "repeats": args.repeats},
        "baseline_is": "model.generate once per candidate with num_return_sequences=samples (same sampling settings and stop tokens)",
        **summary(mine, theirs, speedups, "judgments"),
    }, args.out)


if __name__ == "__main__":
    main()
