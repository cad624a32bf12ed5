"""Candidates: our batched sampler vs one ``generate`` per prompt with ``num_return_sequences=N``.

Counts generated tokens up to each sample's end-of-turn token; reports tokens/s and the ratio.
Settings (N, temperature, top-p, token limit, batch size) come from the run config.
"""

from __future__ import annotations

from common import ift_rows, parser, race_stage_calls, setup, summary, write_result


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--prompts", type=int, default=8, help="prompts to answer")
    p.add_argument("--max-new-tokens", type=int, default=0, help="token limit (0 = the config's)")
    args = p.parse_args()
    config, model, tokenizer = setup(args)

    from srlm.backends.base import Sampling
    from srlm.backends.transformers_backend import TransformersBackend

    cfg = config.candidates
    limit = args.max_new_tokens or cfg.max_new_tokens
    backend = TransformersBackend(model, tokenizer, batch_size=config.backend.batch_size)
    conversations = [[{"role": "user", "content": row["prompt"]}] for row in ift_rows(args.prompts)]
    sampling = Sampling(temperature=cfg.temperature, top_p=cfg.top_p, max_new_tokens=limit, n=cfg.n)

    def tally(outputs: list[list[int]]) -> dict:
        return {"tokens": sum(map(len, outputs)), "samples": len(outputs)}

    mine, theirs, speedups, per_call = race_stage_calls(backend, model, tokenizer, conversations, sampling, args.repeats, "tokens", tally)
    write_result("candidates", {
        "what": "tokens/s generating candidates (tokens counted up to the end-of-turn token)",
        "model": args.model,
        "settings": {"prompts": len(conversations), "n": cfg.n, "temperature": cfg.temperature, "top_p": cfg.top_p, "max_new_tokens": limit, "batch_size": config.backend.batch_size, "prompts_per_call": per_call, "repeats": args.repeats},
        "baseline_is": "model.generate once per prompt with num_return_sequences=n (same sampling settings and stop tokens)",
        **summary(mine, theirs, speedups, "tokens"),
    }, args.out)


if __name__ == "__main__":
    main()
