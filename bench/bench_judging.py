"""Judging: ours vs one ``generate`` per candidate with ``num_return_sequences=samples``.

The request is the paper's judge prompt (SR Fig. 2, ``additive_5pt``) around IFT seed answers;
reports judgments/s and the ratio, plus how many judgments had a parsable score.
"""

from __future__ import annotations

from common import ift_rows, parser, race_stage_calls, setup, summary, write_result


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--candidates", type=int, default=10, help="candidates to judge")
    p.add_argument("--max-new-tokens", type=int, default=0, help="token limit (0 = the config's)")
    args = p.parse_args()
    config, model, tokenizer = setup(args)

    from srlm.backends.base import Sampling
    from srlm.backends.transformers_backend import TransformersBackend
    from srlm.judging.judge import judge_conversation
    from srlm.judging.parse import parse_score
    from srlm.judging.templates import load_template

    cfg = config.judge
    limit = args.max_new_tokens or cfg.max_new_tokens
    template = load_template(cfg.template, ("prompt", "response"))
    backend = TransformersBackend(model, tokenizer, batch_size=config.backend.batch_size)
    requests = [judge_conversation(template, row["prompt"], row["response"]) for row in ift_rows(args.candidates)]
    sampling = Sampling(temperature=cfg.temperature, top_p=cfg.top_p, max_new_tokens=limit, n=cfg.samples)

    def tally(outputs: list[list[int]]) -> dict:
        texts = [tokenizer.decode(ids, skip_special_tokens=True) for ids in outputs]
        return {"judgments": len(texts), "parsed": sum(parse_score(t) is not None for t in texts), "tokens": sum(map(len, outputs))}

    mine, theirs, speedups, per_call = race_stage_calls(backend, model, tokenizer, requests, sampling, args.repeats, "judgments", tally)
    write_result("judging", {
        "what": "judgments/s with the SR judge prompt (additive 5-point)",
        "model": args.model,
        "settings": {"candidates": len(requests), "samples": cfg.samples, "temperature": cfg.temperature, "top_p": cfg.top_p, "max_new_tokens": limit, "batch_size": config.backend.batch_size, "candidates_per_call": per_call, "prompt_tokens": [len(backend.encode(r)) for r in requests], "repeats": args.repeats},
        "baseline_is": "model.generate once per candidate with num_return_sequences=samples (same sampling settings and stop tokens)",
        **summary(mine, theirs, speedups, "judgments"),
    }, args.out)


if __name__ == "__main__":
    main()
