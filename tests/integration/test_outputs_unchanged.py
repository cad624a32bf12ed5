"""The redesign of issue 13 changes no output: stage files hash as they did before it.

Three short runs on the tiny random model (Self-Rewarding with written-digit scoring and a
pairwise head-to-head; Self-Rewarding with expected-digit scoring and the additive head-to-head;
Meta-Rewarding), with the judge and meta-judge scripted as in the loop tests. The sha256 of every
stage file was recorded before the first move (commit "golden hashes"); a JSON file is hashed
after dropping its wall-clock ``seconds`` fields, the only values that differ between two runs.

If a change is *meant* to alter outputs, regenerate the table with
``PYTHONPATH=tests python tests/integration/test_outputs_unchanged.py`` and say why in the commit.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from srlm import pipeline
from srlm.config import load_config
from tests.helpers.scripted import scripted_factory, tiny_overrides

STAGE_FILES = ("prompts.jsonl", "candidates.jsonl", "judgments.jsonl", "meta_judgments.jsonl", "pairs.jsonl", "judge_pairs.jsonl", "dpo.jsonl", "stats.json")
MODEL_FILES = ("eval.json",)

RUNS: dict[str, tuple[str, ...]] = {
    "self_rewarding": ("eval.win_rate_prompts=2", "eval.win_rate_method=pairwise"),
    "self_rewarding_expected": ("judge.scoring=expected", "eval.win_rate_prompts=2", "eval.win_rate_method=additive"),
    "meta_rewarding": ("method=meta_rewarding", "pairs.length_rho=[0, 0.32]", "meta.judge_pairs_iterations=[1]", "backend.batch_size=8"),
}

EXPECTED: dict[str, dict[str, str]] = {
    "meta_rewarding": {
        "M1/eval.json": "e6d973b8093c4501c74b386a577176928644d109bd88796ecd4dc7a30d3912cd",
        "M2/eval.json": "391c205f77e5b98682b0799636ac51703ef1e71d91e68a4ad1071e1e24fc56fb",
        "M3/eval.json": "6deffc07aa3b08fc86989011c57e6724249bce33c5f33a21d51112e66c414661",
        "data/sft.jsonl": "944d95cc76a67b3645bb8128873a760112e28077b59a9fad46c9d04609868d2b",
        "data/stats.json": "51da12b7a338c2cbbe99f703b60683c778f6b2f52d233ba3cec6838facfe02b2",
        "iter1/candidates.jsonl": "f09d23017bedfd176750483c124fbdb719e099fcc12a5611d85f69a698af5305",
        "iter1/dpo.jsonl": "f5aa490ce89e1d96d7a25215c9638e33a77ce533fa86889e2f1c6b33ecac5004",
        "iter1/judge_pairs.jsonl": "0737191cee25282d4038cf18758876520156944d7d289bcee9a36a195f9a8127",
        "iter1/judgments.jsonl": "8460bc02d0efabc008f2fecca236598e3473de6029a9fc7016cd1bec21250187",
        "iter1/meta_judgments.jsonl": "394d5a6927529d3f9bbb7ebcd000d1d17311eb55c0bc26c012c6112e4a9ff084",
        "iter1/pairs.jsonl": "69c3cf0d450258f0b1a6775fcd3e73de98ce46080ed7afc7a9f54788549478c6",
        "iter1/prompts.jsonl": "9f15762ca6212cecc452337dfdf50ca976a76172ca78cda6408ddb3306f6bca5",
        "iter1/stats.json": "b4f75aa13ecd9d3e726e08ca296459c9c727ce5196e913bc7df1508055b537ea",
        "iter2/candidates.jsonl": "22e1d0f768faf558ec935b55b61188368dabae11f99fac37609c01711efc85a1",
        "iter2/dpo.jsonl": "2aa6a1d2c88c549056f2d4b4d561755c9ad238a379da5c82aa42f88597583794",
        "iter2/judge_pairs.jsonl": "327ac9eed01e16b683377acfb5269a63c1826fcf655872bce81936cd97c80fc8",
        "iter2/judgments.jsonl": "b0394ed6d89570a13563ad413055cc69e23f6d3350849686ba19052484f8dfb3",
        "iter2/meta_judgments.jsonl": "3cde2669274b60999539029b4d7e73aaeda2714dd1b89b12eb3a9cf2889ddf86",
        "iter2/pairs.jsonl": "9ed603793d7f2298cb7fe593f2642c959c728afc3726253beb1976e2bd974a6b",
        "iter2/prompts.jsonl": "ac02b7c70943dbd37e2ad44addb65829558382c8ea3433a76e9b8c81c48aa8d0",
        "iter2/stats.json": "94c1a04deaf1f4508d17cc5788c6d6e1eaaeeb2924f587e4e5636bd7fc9579ea"
    },
    "self_rewarding": {
        "M1/eval.json": "e6d973b8093c4501c74b386a577176928644d109bd88796ecd4dc7a30d3912cd",
        "M2/eval.json": "d3c9c98671a1e9fe44f7036210f0d47404e7bbc70bf2227e03d012df16fe4652",
        "M3/eval.json": "8274160d1c3fb7c6aebc9c33f95c580d7a0240209786317c76d2787f0b91952f",
        "data/sft.jsonl": "944d95cc76a67b3645bb8128873a760112e28077b59a9fad46c9d04609868d2b",
        "data/stats.json": "51da12b7a338c2cbbe99f703b60683c778f6b2f52d233ba3cec6838facfe02b2",
        "iter1/candidates.jsonl": "d2b1348a091c1fb661c693d6e42e0b2cc972cdf6fcea7df232dd9469ff18bb50",
        "iter1/dpo.jsonl": "158c19c305089e67e0e2ead2c085dd9c0d8502d45b34892d635816f8d1461293",
        "iter1/judgments.jsonl": "65f63ea1f2529a090269f2a19655e8674f26a95af9f36f08383a7419564076b8",
        "iter1/pairs.jsonl": "807afa5f2d1145d80eb26cc2282e5b4b2efcc2eb49c7200747a8c51e27cdff54",
        "iter1/prompts.jsonl": "e622143e21494c4245a3e6ba8182e32f70def73962a65149f819895d6fd5804b",
        "iter1/stats.json": "f0d9a845a6c9d4ed41728c936534f200ec4772ea23babd864d9193464cc36d09",
        "iter2/candidates.jsonl": "7e9c94af84f68fc01b7189f7816106abc71b342f0bc6e88f8bb388f1d8c670eb",
        "iter2/dpo.jsonl": "3d1ee7e328cfacaeea6f9397e97311d77ccafb604825908731f3657a14ddbd59",
        "iter2/judgments.jsonl": "19b5021ae5bd49bc674854a662c30fc359aa115783a6698c0290faac088ebba8",
        "iter2/pairs.jsonl": "5ffd43de90c87fd9661992d4ef49f79bac9cb1357284ebb8f173bf0c8cbf718d",
        "iter2/prompts.jsonl": "e0c371fdc6e28f4570fd7c0f335bc7034ed625b5e982a7a1052a1df9a470114e",
        "iter2/stats.json": "ac3d4835f4d379dd860b1ac93385966871aadd8cbfe4837d740e3289fa626863"
    },
    "self_rewarding_expected": {
        "M1/eval.json": "b454f672d073e266ff68a895dc525571f9552728af16c46c049f1a5cac15e51b",
        "M2/eval.json": "467d3223a347d17772671a92b0cd0ee823a8a7151eb02c978b75d20cf77c077e",
        "M3/eval.json": "c8a55833f10a48ed663f18ab8ca7abe6c332f954982cfca4d937c033a7beed52",
        "data/sft.jsonl": "944d95cc76a67b3645bb8128873a760112e28077b59a9fad46c9d04609868d2b",
        "data/stats.json": "51da12b7a338c2cbbe99f703b60683c778f6b2f52d233ba3cec6838facfe02b2",
        "iter1/candidates.jsonl": "d2b1348a091c1fb661c693d6e42e0b2cc972cdf6fcea7df232dd9469ff18bb50",
        "iter1/dpo.jsonl": "c3950065a082cf244cacc1fd5acc14040c12f10c6c71d815d17ae9bcb63cdfae",
        "iter1/judgments.jsonl": "b757aa75f1f0f83c4c80561181c552c66f92d85ba629dcb2634afe21b1174ab7",
        "iter1/pairs.jsonl": "6ac1f9af6e609707a74079d8f67b6eaf102b13462234c9ad80b590563f5de868",
        "iter1/prompts.jsonl": "e622143e21494c4245a3e6ba8182e32f70def73962a65149f819895d6fd5804b",
        "iter1/stats.json": "610aff66c9b8c2a2d93c81aef38e5288ebff069821cb6479f8c419b265694b21",
        "iter2/candidates.jsonl": "9060a2a995e4e69a7a03860b3a6fab54c24a94dd957202788b08ed59dff77d4b",
        "iter2/dpo.jsonl": "2c6d3cc8efe4a4c9aa9a7573e1a2ecf457e43a15c338e11e137a8e7bb40b2d22",
        "iter2/judgments.jsonl": "6ced280c88f41ca9a493b91fa5b598aafd7ee16b6fa7c7b2765efd3a4678be35",
        "iter2/pairs.jsonl": "75015623bad056d908aa785d8eb0ec5a24b1cb7477aa110a15ef6158909898c5",
        "iter2/prompts.jsonl": "38e059f7b6b990b66ac0be440e46ccdfeb2282dadf07a3b62d499ca550fd5ba9",
        "iter2/stats.json": "1f2e67a413d4872d5bc47c09925481d43f9f5aea07cf9170f13ca5ec86707377"
    }
}


def _without_seconds(data: object) -> object:
    if isinstance(data, dict):
        return {k: _without_seconds(v) for k, v in data.items() if k != "seconds"}
    if isinstance(data, list):
        return [_without_seconds(v) for v in data]
    return data


def file_hash(path: Path) -> str:
    if path.suffix == ".json":
        data = _without_seconds(json.loads(path.read_text(encoding="utf-8")))
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_hashes(model_dir: Path, runs_dir: Path, name: str) -> dict[str, str]:
    """``relative path -> sha256`` of every stage file of run ``name``."""
    config = load_config(None, tiny_overrides(model_dir, runs_dir, f"name={name}", *RUNS[name]))
    run = pipeline.run(config, backend_factory=scripted_factory)
    found = {}
    for path in sorted(run.root.rglob("*")):
        relative = path.relative_to(run.root).as_posix()
        if path.name in STAGE_FILES and path.parent.name.startswith("iter") or path.name in MODEL_FILES or relative in ("data/stats.json", "data/sft.jsonl"):
            found[relative] = file_hash(path)
    return found


@pytest.mark.parametrize("name", sorted(RUNS))
def test_stage_files_hash_as_before_the_redesign(tiny_model_dir: Path, tmp_path: Path, name: str) -> None:
    assert run_hashes(tiny_model_dir, tmp_path, name) == EXPECTED[name]


if __name__ == "__main__":  # record the table (prints it; paste it over EXPECTED)
    import tempfile

    from tests.helpers.tiny_model import build_tiny_model

    with tempfile.TemporaryDirectory() as tmp:
        model = build_tiny_model(Path(tmp) / "model")
        table = {name: run_hashes(model, Path(tmp) / "runs", name) for name in sorted(RUNS)}
    print(json.dumps(table, indent=4))
