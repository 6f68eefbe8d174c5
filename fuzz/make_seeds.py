#!/usr/bin/env python3
"""Writes the seed inputs fuzz/corpus/<target>/seed-* (small, hand-made or cut from the bundled model
and data). Inputs the fuzzers found and minimized (crash-*, plus the merged corpus) are committed
as they are; this script only rewrites seed-* files. Run from anywhere: python3 fuzz/make_seeds.py"""
import gzip
import json
import os
import struct
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
MODEL = ROOT / "assets" / "models" / "stories260k"


def put(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / f"seed-{name}").write_bytes(data)


def dumps(obj):
    return json.dumps(obj, ensure_ascii=False)


# ---- safetensors: [u64 header length][JSON header][data] ----
def safetensors(tensors, metadata=None, pad=True):
    header, blobs, offset = {}, b"", 0
    if metadata is not None:
        header["__metadata__"] = metadata
    sizes = {"F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "U8": 1, "BOOL": 1, "F64": 8, "I8": 1, "I16": 2}
    for name, dtype, shape in tensors:
        n = sizes[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        blobs += bytes((i * 37) & 0xFF for i in range(n))
        offset += n
    h = dumps(header).encode()
    if pad:
        h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + blobs


def safetensors_seeds():
    put("safetensors", "basic", safetensors([("w", "F32", [2, 3]), ("b", "BF16", [4])], {"format": "pt"}))
    put("safetensors", "dtypes", safetensors([("a", "F16", [2]), ("b", "I64", [1]), ("c", "U8", [3]),
                                              ("d", "BOOL", [2, 1]), ("e", "F64", []), ("f", "I32", [0, 5])]))
    put("safetensors", "empty", safetensors([], {"format": "pt", "note": "none"}, pad=False))
    put("safetensors", "layers", safetensors([("model.layers.0.self_attn.q_proj.weight", "F32", [4, 4]),
                                              ("model.norm.weight", "F16", [4]),
                                              ("lm_head.weight", "BF16", [8, 4])]))


# ---- config.json ----
def config_seeds():
    put("config", "stories260k", (MODEL / "config.json").read_text())
    base = {"architectures": ["LlamaForCausalLM"], "vocab_size": 64, "hidden_size": 32, "num_hidden_layers": 3,
            "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 40, "rms_norm_eps": 1e-5,
            "rope_theta": 10000.0, "max_position_embeddings": 128, "tie_word_embeddings": False,
            "torch_dtype": "float32"}
    put("config", "llama3-rope", dumps({**base, "rope_scaling": {"rope_type": "llama3", "factor": 8.0,
            "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
            "attention_bias": True, "mlp_bias": True, "head_dim": 16}))
    put("config", "mistral", dumps({**base, "architectures": ["MistralForCausalLM"], "sliding_window": 16}))
    put("config", "qwen2", dumps({**base, "architectures": ["Qwen2ForCausalLM"], "use_sliding_window": True,
            "sliding_window": 8, "max_window_layers": 1, "tie_word_embeddings": True}))
    put("config", "qwen3", dumps({**base, "architectures": None, "model_type": "qwen3", "head_dim": 8,
            "rope_parameters": {"rope_type": "linear", "factor": 2.0, "rope_theta": 1e6}}))
    put("config", "lopper-layers", dumps({**base, "lopper_layers": [
        {"attention": {"num_attention_heads": 4, "num_key_value_heads": 2}, "mlp": {"intermediate_size": 40}},
        {"attention": None, "mlp": {"intermediate_size": 24}},
        {"attention": {"num_attention_heads": 2, "num_key_value_heads": 1}, "mlp": None}]}))
    put("config", "slicegpt", dumps({**base, "lopper_slicegpt": {"norm_dim": 32, "embedding_dim": 24, "layers": [
        {"attn_in": 24, "mlp_in": 20, "mlp_out": 20}, {"attn_in": 20, "mlp_in": 16, "mlp_out": 16},
        {"attn_in": 16, "mlp_in": 16, "mlp_out": 12}]}}))
    nas = {k: v for k, v in base.items() if k not in ("num_key_value_heads", "intermediate_size")}
    put("config", "nemotron-nas", dumps({**nas, "architectures": ["DeciLMForCausalLM"], "model_type": "nemotron-nas",
        "num_key_value_heads": None, "intermediate_size": None, "block_configs": [
            {"attention": {"no_op": False, "replace_with_linear": False, "n_heads_in_group": 2},
             "ffn": {"no_op": False, "replace_with_linear": False, "ffn_mult": 1.3}},
            {"attention": {"no_op": True, "replace_with_linear": False, "n_heads_in_group": None},
             "ffn": {"no_op": False, "ffn_mult": 2.5, "hidden_act": "silu", "gated": True}},
            {"attention": {"num_key_value_heads": 1}, "ffn": {"no_op": True}}]}))
    put("config", "deci7b", dumps({**base, "architectures": None, "model_type": "deci",
                                   "num_key_value_heads_per_layer": [4, 2, 1]}))


# ---- tokenizer.json (optionally NUL + tokenizer_config.json) ----
def shrink_bpe(tok, keep):
    """The tokenizer with its vocabulary cut to the `keep` lowest ids and the merges that stay inside."""
    m = tok["model"]
    vocab = {t: i for t, i in m["vocab"].items() if i < keep}
    merges = []
    for mg in m["merges"]:
        a, b = mg.split(" ", 1) if isinstance(mg, str) else mg
        if a in vocab and b in vocab and a + b in vocab:
            merges.append(mg)
    tok = dict(tok, model=dict(m, vocab=vocab, merges=merges))
    tok["added_tokens"] = [t for t in tok.get("added_tokens", []) if t["id"] < keep] or tok.get("added_tokens", [])
    return tok


def tokenizer_seeds():
    stories = json.loads((MODEL / "tokenizer.json").read_text())
    config = (MODEL / "tokenizer_config.json").read_text()
    small = shrink_bpe(stories, 120)
    put("tokenizer", "stories260k-small", dumps(small))
    put("tokenizer", "stories260k-small-config", dumps(small) + "\0" + config)
    testbed = ROOT.parent / "shared" / "models" / "testbed-15m" / "tokenizer.json"
    if testbed.exists():  # byte-level BPE with the Llama-3 regex
        t = shrink_bpe(json.loads(testbed.read_text()), 300)
        put("tokenizer", "bytelevel-llama3", dumps(t))
    byte_vocab = {chr(c): i for i, c in enumerate(range(33, 127))}
    byte_vocab.update({"Ġ": 94, "Ġt": 95, "he": 96, "Ġthe": 97, "<|endoftext|>": 98})
    gpt2 = {"version": "1.0", "added_tokens": [{"id": 98, "content": "<|endoftext|>", "special": True,
                                                "normalized": False, "lstrip": True, "rstrip": False,
                                                "single_word": False}],
            "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"},
                                                                {"type": "Replace", "pattern": {"Regex": "\\s+"},
                                                                 "content": " "}]},
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": True, "use_regex": True},
            "post_processor": {"type": "RobertaProcessing", "cls": ["<|endoftext|>", 98],
                               "sep": ["<|endoftext|>", 98]},
            "decoder": {"type": "ByteLevel"},
            "model": {"type": "BPE", "vocab": byte_vocab, "merges": [["Ġ", "t"], "h e", "Ġt he"],
                      "continuing_subword_prefix": None, "end_of_word_suffix": None, "ignore_merges": False}}
    put("tokenizer", "gpt2-like", dumps(gpt2))
    word_vocab = {"[UNK]": 0, "▁": 1, "a": 2, "b": 3, "c": 4, "1": 5, "2": 6, "!": 7, "ab": 8, "▁ab": 9, "</w>": 10,
                  "c</w>": 11}
    pieces = {"version": "1.0", "added_tokens": [{"id": 0, "content": "[UNK]", "special": True}],
              "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFD"}, {"type": "StripAccents"},
                  {"type": "Strip", "left": True, "right": True}, {"type": "Nmt"}, {"type": "NFC"}]},
              "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                  {"type": "Digits", "individual_digits": True}, {"type": "Punctuation", "behavior": "Isolated"},
                  {"type": "Split", "pattern": {"String": "b"}, "behavior": "MergedWithNext", "invert": False},
                  {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": True}]},
              "post_processor": {"type": "TemplateProcessing", "single": [{"Sequence": {"id": "A", "type_id": 0}},
                  {"SpecialToken": {"id": "[UNK]", "type_id": 0}}],
                  "special_tokens": {"[UNK]": {"id": "[UNK]", "ids": [0], "tokens": ["[UNK]"]}}},
              "decoder": {"type": "Sequence", "decoders": [{"type": "Metaspace", "replacement": "▁",
                  "prepend_scheme": "always"}, {"type": "BPEDecoder", "suffix": "</w>"}]},
              "model": {"type": "BPE", "unk_token": "[UNK]", "fuse_unk": True, "vocab": word_vocab,
                        "merges": ["a b", "▁ ab", "c </w>"], "end_of_word_suffix": "</w>", "dropout": 0.1}}
    put("tokenizer", "components", dumps(pieces))
    ws = dict(pieces, normalizer={"type": "ByteLevel"},
              pre_tokenizer={"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"},
                  {"type": "CharDelimiterSplit", "delimiter": "!"}, {"type": "BertPreTokenizer"},
                  {"type": "Whitespace"}]},
              decoder={"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "a"},
                       "content": "A"}, {"type": "Fuse"}, {"type": "Strip", "content": "A", "start": 1, "stop": 1}]},
              post_processor={"type": "Sequence", "processors": [{"type": "ByteLevel"},
                              {"type": "BertProcessing", "cls": ["a", 2], "sep": ["b", 3]}]})
    put("tokenizer", "splitters", dumps(ws))


# ---- plan JSON (the fuzzer's tiny model: 3 layers, hidden 8, 4 heads / 2 KV groups, FFN 6) ----
def plan_seeds():
    model = {"architecture": "LlamaForCausalLM", "num_layers": 3, "hidden_size": 8}
    plan = {"lopper_plan": 1, "method": "sprint", "model": model, "actions": [
        {"op": "remove_attention", "layer": 1}, {"op": "remove_mlp", "layer": 2},
        {"op": "keep_mlp_channels", "layer": 0, "channels": [5, 0, 3]},
        {"op": "keep_kv_groups", "layer": 2, "groups": [1]}, {"op": "remove_layers", "layers": [1]}],
        "refits_omitted": True}
    put("plan", "all-ops", dumps(plan))
    put("plan", "depth", dumps({"lopper_plan": 1, "method": "shortgpt", "model": model,
                                "actions": [{"op": "remove_layers", "layers": [2, 0]}]}))
    put("plan", "report", dumps({"method": "heads", "ppl": {"before": 10.5}, "plan": {
        "lopper_plan": 1, "method": "heads", "actions": [{"op": "keep_kv_groups", "layer": 0, "groups": [0]},
                                                         {"op": "keep_kv_groups", "layer": 1, "groups": [1, 0]}]}}))
    put("plan", "no-fingerprint", dumps({"lopper_plan": 1, "actions": [{"op": "keep_mlp_channels", "layer": 1,
                                                                         "channels": [0, 1, 2, 3, 4]}]}))


# ---- dataset files: first byte picks the name (0 .txt, 1 .jsonl, 2 .json, 3-5 the same gzipped) ----
def data_seeds():
    wiki = " = Valkyria Chronicles III = \n \n Senjō no Valkyria 3 : Unrecorded Chronicles ( Japanese : 戦場のヴァルキュリア3 ) .\n \n"
    put("data", "txt-wikitext", b"\0" + wiki.encode())
    stories = "Once upon a time, there was a cat.\nIt was red.\n<|endoftext|>\nTom ran.\n  \n<|endoftext|>\n"
    put("data", "txt-tinystories", b"\0" + stories.encode())
    put("data", "txt-ptb", b"\0 no it was n't black monday \r\n but while the new york stock exchange \n\n")
    rows = "\n".join(dumps({"text": t, "id": i}) for i, t in enumerate(["first doc", "ü second\n", ""])) + "\n\n"
    put("data", "jsonl", b"\1" + rows.encode())
    put("data", "json-array", b"\2" + dumps(["a string doc", {"text": "an object doc"}]).encode())
    put("data", "json-lines", b"\2" + dumps({"text": "c4 style"}).encode() + b"\n")
    put("data", "gz-txt", b"\3" + gzip.compress(wiki.encode(), mtime=0))
    two_members = gzip.compress(rows[:20].encode(), mtime=0) + gzip.compress(rows[20:].encode(), mtime=0)
    put("data", "gz-jsonl-multimember", b"\4" + two_members)
    put("data", "gz-json", b"\5" + gzip.compress(dumps(["x", "y"]).encode(), mtime=0))


# ---- zero-shot task files: first byte picks the task (index in known_tasks(); 9: a user file), +0x80: v0.3 ----
def task_seeds():
    tasks = ["piqa", "hellaswag", "winogrande", "arc_easy", "arc_challenge", "boolq", "openbookqa", "copa",
             "lambada_openai"]
    rows = {
        "piqa": [{"goal": "Open a jar", "sol1": "Twist the lid.", "sol2": "Bite it."},
                 {"goal": "Dry hair", "sol1": "Use a towel.", "sol2": "Use water."}],
        "hellaswag": [{"activity_label": "Pole vault", "ctx_a": "A man runs.", "ctx_b": "he jumps", "label": "1",
                       "endings": ["falls [title] down.", "clears the  bar."]}],
        "winogrande": [{"context_options": ["Sam beat Max so Sam", "Sam beat Max so Max"],
                        "continuation": " was happy. ", "gold": 0}],
        "arc_easy": [{"query": "Question: What is hot?", "choices": ["fire", "ice", "ice"], "gold": 0}],
        "arc_challenge": [{"query": "Question: 2+2?", "choices": ["3", "4", "5", "22"], "gold": 1}],
        "boolq": [{"query": "Passage: Cats purr.\nQuestion: do cats purr?", "gold": 1}],
        "openbookqa": [{"query": "The sun is a", "choices": ["star", "planet"], "gold": 0}],
        "copa": [{"query": "The man turned on the faucet, therefore", "choices": ["Water flowed.", "It broke."],
                  "gold": 0}, {"query": "The girl smiled, because", "choices": ["She won.", "She lost."], "gold": 0}],
        "lambada_openai": [{"context": "He opened the", "continuation": "door"}],
    }
    for i, name in enumerate(tasks):
        body = "\n".join(dumps(r) for r in rows[name]) + "\n"
        if name == "piqa":
            body += "\0" + "1\n0\n"
        put("tasks", name, bytes([i]) + body.encode())
    put("tasks", "copa-v03", bytes([7 | 0x80]) + (dumps(rows["copa"][0]) + "\n").encode())
    put("tasks", "user-choices", b"\x09" + (dumps({"query": "Q", "choices": ["a", "b"], "gold": 1}) + "\n").encode())
    put("tasks", "user-options", b"\x09" + (dumps(rows["winogrande"][0]) + "\n\n").encode())
    put("tasks", "user-continuation", b"\x09" + gzip.compress((dumps(rows["lambada_openai"][0]) + "\n").encode(),
                                                              mtime=0))


# ---- fine-tuning data: first byte = format/name (bits 0-2), train_on_inputs (bit 3), cutoff (bits 4-6) ----
def finetune_seeds():
    rows = [{"instruction": "Name a color.", "input": "", "output": "Red."},
            {"instruction": "Add.", "input": "2 and 3", "output": "5"}]
    put("finetune", "jsonl", b"\x70" + ("\n".join(dumps(r) for r in rows) + "\n").encode())
    put("finetune", "json-array", b"\x7b" + dumps(rows).encode())
    put("finetune", "text", b"\x52" + b"Once upon a time the cat sat.\nThe end.\n")
    put("finetune", "alpaca-null-input", b"\x31" + (dumps({"instruction": "x", "input": None, "output": "y"})).encode())


# ---- GGUF: magic, version, tensor count, kv count, kv pairs, tensor infos, aligned data ----
def gguf(kv, tensors, version=3):
    def s(x):
        b = x.encode()
        return struct.pack("<Q", len(b)) + b
    out = b"GGUF" + struct.pack("<Iqq", version, len(tensors), len(kv))
    fmt = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<B", 10: "<Q", 11: "<q", 12: "<d"}

    def value(t, v):
        if t == 8:
            return s(v)
        if t == 9:
            et, items = v
            return struct.pack("<IQ", et, len(items)) + b"".join(value(et, x) for x in items)
        return struct.pack(fmt[t], v)
    for key, t, v in kv:
        out += s(key) + struct.pack("<I", t) + value(t, v)
    for name, dims, ggml_type, offset in tensors:
        out += s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<q", d) for d in dims)
        out += struct.pack("<IQ", ggml_type, offset)
    out += b"\0" * ((32 - len(out) % 32) % 32)
    return out + bytes(64)


def gguf_seeds():
    kv = [("general.architecture", 8, "llama"), ("general.alignment", 4, 32), ("llama.block_count", 4, 2),
          ("llama.rope.freq_base", 6, 10000.0), ("tokenizer.ggml.tokens", 9, (8, ["<s>", "a", "b"])),
          ("tokenizer.ggml.scores", 9, (6, [0.0, -1.0, -2.0])), ("flag", 7, 1), ("big", 10, 2**40),
          ("neg", 11, -5), ("d", 12, 0.5), ("small", 0, 7), ("i8", 1, -1), ("u16", 2, 9), ("i16", 3, -9),
          ("i32", 5, -7), ("nested", 9, (9, [(4, [1, 2]), (4, [])]))]
    put("gguf", "llama", gguf(kv, [("token_embd.weight", [4, 3], 0, 0), ("output_norm.weight", [4], 1, 64)]))
    put("gguf", "minimal", gguf([], []))
    put("gguf", "v2", gguf([("general.alignment", 4, 64)], [("t", [2, 2, 2], 8, 0)], version=2))


if __name__ == "__main__":
    for f in (safetensors_seeds, config_seeds, tokenizer_seeds, plan_seeds, data_seeds, task_seeds, finetune_seeds,
              gguf_seeds):
        f()
    total = sum(p.stat().st_size for p in CORPUS.rglob("seed-*"))
    print(f"seeds written under {os.path.relpath(CORPUS)}: {total} bytes")
