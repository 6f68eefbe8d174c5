#!/usr/bin/env python3
"""PyTorch + transformers + PEFT reference for `lopper bench --lora-train`: the same LoRA training step
(r=8, alpha=16, dropout 0.05 on q,k,v,o,gate,up,down; bf16 base weights, fp32 LoRA weights under bf16
autocast; AdamW; gradient clipping at 1.0) on a random-weight model of the same shape, on windows of the
same text through the same tokenizer. Prints one JSON line. Run on the GPU machine beside lopper."""
import argparse
import json
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--micro-batch", type=int, default=4)
    ap.add_argument("--seqlen", type=int, default=256)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--gradient-checkpointing", action="store_true")
    a = ap.parse_args()

    torch.manual_seed(0)
    with open(a.config) as f:
        cfg = LlamaConfig.from_dict(json.load(f))
    cfg.use_cache = False
    t0 = time.time()
    torch.set_default_dtype(torch.bfloat16)
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(cfg, attn_implementation="sdpa")
    torch.set_default_dtype(torch.float32)
    if a.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    lora = LoraConfig(r=a.rank, lora_alpha=16, lora_dropout=0.05, bias="none", task_type="CAUSAL_LM",
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    model = get_peft_model(model, lora)
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.data = p.data.float()  # fp32 master LoRA weights, as lopper keeps them
    opt = torch.optim.AdamW(params, lr=1e-4)
    setup_s = time.time() - t0

    tok = AutoTokenizer.from_pretrained(a.tokenizer)
    ids = tok(open(a.data).read())["input_ids"]
    n = a.micro_batch * a.seqlen
    batches = [torch.tensor([ids[(s * n + i) % len(ids)] for i in range(n)]).view(a.micro_batch, a.seqlen)
               for s in range(a.steps + a.warmup)]
    model.train()
    timed = 0.0
    torch.cuda.reset_peak_memory_stats()
    for s, b in enumerate(batches):
        b = b.cuda()
        torch.cuda.synchronize()
        t = time.time()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(input_ids=b, labels=b).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        if s >= a.warmup:
            timed += time.time() - t
    print(json.dumps({"impl": "transformers+peft", "torch": torch.__version__, "micro_batch": a.micro_batch,
                      "seqlen": a.seqlen, "steps": a.steps, "gradient_checkpointing": a.gradient_checkpointing,
                      "trainable_params": sum(p.numel() for p in params), "setup_seconds": setup_s,
                      "step_seconds": timed / a.steps, "tokens_per_s": a.steps * n / timed,
                      "peak_memory_bytes": torch.cuda.max_memory_allocated(), "last_loss": loss.item()}))


if __name__ == "__main__":
    main()
