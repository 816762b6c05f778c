"""A tiny random-weight Llama GGUF (and a LoRA for it) that real llama.cpp tools load and train.

The tokenizer is real: it is copied from the vocab-only GGUF that ships in the llama.cpp tree
(models/ggml-vocab-llama-spm.gguf, kept in tests/data/). Weights are random but deterministic
by seed, so two calls with the same arguments write the same bytes.

    make_tiny_model(path, dtype="f32" | "f16" | "q8_0", seed=0, chat_template=None, wide=False)
    make_tiny_lora(path, base_path, rank=4, seed=0, zero=False)

`wide` makes every weight row 256 values long (n_embd 256, n_ff 512), the block size of the
k-quants, so llama-quantize can write real Q4_K/Q6_K tensors instead of falling back.
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

from forge_gui.core.llamacpp.gguf_header import ArrayInfo, read_header

VOCAB_GGUF = Path(__file__).parent / "data" / "ggml-vocab-llama-spm.gguf"

N_EMBD = 64
N_LAYER = 2
N_HEAD = 4
N_HEAD_KV = 4
N_FF = 128
N_CTX_TRAIN = 1024

_FILE_TYPES = {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
               "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}


def tokenizer_keys(vocab: Path) -> tuple[list[str], int]:
    """The tokenizer.* keys of a vocab-only GGUF (without its chat template) and its size."""
    header = read_header(vocab)
    keys = [k for k in header.fields if k.startswith("tokenizer.") and k != "tokenizer.chat_template"]
    tokens = header.fields["tokenizer.ggml.tokens"]
    assert isinstance(tokens, ArrayInfo)
    return keys, tokens.length


def splice_records(target: Path, source: Path, keys: list[str]) -> None:
    """Add the `keys` records of `source` to the GGUF `target`, copied byte for byte.

    gguf.GGUFReader and GGUFWriter handle a tokenizer one element at a time: a minute for
    Gemma's 256k tokens, once most of the family tests' time (docs/architecture.md, "Checks");
    copying the records' bytes takes a fraction of a second. The header grows, so the tensor
    data moves to the next aligned offset; the tensors' own offsets are relative to it and
    stay."""
    extra = source.read_bytes()
    spans = read_header(source).spans
    added = b"".join(extra[slice(*spans[key])] for key in keys)
    data, header = target.read_bytes(), read_header(target)
    align = int(header.fields.get("general.alignment", 32))  # type: ignore[call-overload]
    kv_end = max((end for _, end in header.spans.values()), default=24)
    n_kv = len(header.spans) + len(keys)
    head = data[:16] + n_kv.to_bytes(8, "little") + data[24:kv_end] + added + data[kv_end:header.end]
    tensors = data[-(-header.end // align) * align:]
    out = head + bytes(-len(head) % align) + tensors
    tmp = target.with_suffix(".splice")
    tmp.write_bytes(out)
    tmp.replace(target)


def tiny_tensors(n_vocab: int, seed: int, n_embd: int = N_EMBD, n_ff: int = N_FF,
                 n_layer: int = N_LAYER) -> dict[str, np.ndarray]:
    """name -> float32 array in numpy order (rows = output features)."""
    N_EMBD, N_FF, N_LAYER = n_embd, n_ff, n_layer
    rng = np.random.default_rng(seed)

    def w(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    kv = N_EMBD // N_HEAD * N_HEAD_KV
    tensors = {"token_embd.weight": w(n_vocab, N_EMBD)}
    for i in range(N_LAYER):
        tensors.update({
            f"blk.{i}.attn_norm.weight": np.ones(N_EMBD, np.float32),
            f"blk.{i}.attn_q.weight": w(N_EMBD, N_EMBD),
            f"blk.{i}.attn_k.weight": w(kv, N_EMBD),
            f"blk.{i}.attn_v.weight": w(kv, N_EMBD),
            f"blk.{i}.attn_output.weight": w(N_EMBD, N_EMBD),
            f"blk.{i}.ffn_norm.weight": np.ones(N_EMBD, np.float32),
            f"blk.{i}.ffn_gate.weight": w(N_FF, N_EMBD),
            f"blk.{i}.ffn_up.weight": w(N_FF, N_EMBD),
            f"blk.{i}.ffn_down.weight": w(N_EMBD, N_FF),
        })
    # A gain of 4 on the last norm: with only 64 dims, AdamW at lr 1e-3 then moves the logits
    # fast enough that the loss visibly falls within a few dozen steps (tests stay quick).
    tensors["output_norm.weight"] = np.full(N_EMBD, 4.0, np.float32)
    tensors["output.weight"] = w(n_vocab, N_EMBD)
    return tensors


def _add_llama_header(writer: gguf.GGUFWriter, name: str, n_embd: int = N_EMBD,
                      n_ff: int = N_FF, n_layer: int = N_LAYER) -> None:
    writer.add_name(name)
    writer.add_context_length(N_CTX_TRAIN)
    writer.add_embedding_length(n_embd)
    writer.add_block_count(n_layer)
    writer.add_feed_forward_length(n_ff)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD_KV)
    writer.add_rope_dimension_count(n_embd // N_HEAD)
    writer.add_layer_norm_rms_eps(1e-5)


def make_tiny_model(path: Path, dtype: str = "f32", seed: int = 0,
                    chat_template: str | None = None, wide: bool = False,
                    dims: tuple[int, int, int] | None = None, vocab: Path = VOCAB_GGUF) -> Path:
    """Write a tiny Llama GGUF; 2-D weights in `dtype`, norms always F32 (as real models).
    `chat_template`: a tokenizer.chat_template (Jinja) like an instruct model's; `dims`:
    (n_embd, n_ff, n_layer) for a bigger random model (benchmarks); `vocab`: the vocab-only
    GGUF whose tokenizer it carries (a family's real one: models/ggml-vocab-*.gguf)."""
    path = Path(path)
    n_embd, n_ff, n_layer = dims or ((256, 512, N_LAYER) if wide else (N_EMBD, N_FF, N_LAYER))
    writer = gguf.GGUFWriter(path, "llama")
    _add_llama_header(writer, f"forge-tiny-{dtype}", n_embd, n_ff, n_layer)
    tokenizer, n_vocab = tokenizer_keys(vocab)
    writer.add_vocab_size(n_vocab)
    writer.add_file_type(_FILE_TYPES[dtype])
    if chat_template is not None:
        writer.add_chat_template(chat_template)
    for name, data in tiny_tensors(n_vocab, seed, n_embd, n_ff, n_layer).items():
        if data.ndim == 1 or dtype == "f32":
            writer.add_tensor(name, data)
        elif dtype == "f16":
            writer.add_tensor(name, data.astype(np.float16))
        else:
            quant = gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q8_0)
            writer.add_tensor(name, quant, raw_shape=quant.shape, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    splice_records(path, vocab, tokenizer)
    return path


def make_tiny_lora(path: Path, base_path: Path, rank: int = 4, alpha: float = 8.0,
                   seed: int = 0, zero: bool = False) -> Path:
    """Write a GGUF LoRA adapter for `base_path` (attn_q/attn_v of every block), as
    llama-export-lora and llama.cpp's adapter loader expect: general.type=adapter,
    adapter.type=lora, tensors `<weight>.lora_a` (ne=[in, rank]) and `.lora_b` (ne=[rank, out])."""
    reader = gguf.GGUFReader(base_path)
    shapes = {t.name: [int(n) for n in t.shape] for t in reader.tensors}  # ne order: [in, out]
    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(Path(path), "llama")
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_name("forge-tiny-lora")
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    for i in range(N_LAYER):
        for part in ("attn_q", "attn_v"):
            name = f"blk.{i}.{part}.weight"
            n_in, n_out = shapes[name]
            a = (rng.standard_normal((rank, n_in)) * 0.05).astype(np.float32)
            b = (rng.standard_normal((n_out, rank)) * 0.05).astype(np.float32)
            if zero:  # what an untrained adapter holds: B starts at zero
                b[:] = 0
            writer.add_tensor(f"{name}.lora_a", a)
            writer.add_tensor(f"{name}.lora_b", b)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return Path(path)
