#!/usr/bin/env python3
# Checks that checkpoints lopper wrote load with the Python safetensors package and transformers, and
# that transformers' greedy continuation equals lopper's. Needs torch, safetensors and transformers
# (not part of the build). For each OUT directory, first run
#   lopper generate --model OUT --ids 1,403,407 -n 20 --greedy --dtype f32 --json OUT.gen.json
# then: python3 scripts/check-hf-load.py OUT [OUT ...]
import glob, json, sys

import torch
from safetensors import safe_open
from transformers import AutoModelForCausalLM

ok = True
for out in sys.argv[1:]:
    for f in sorted(glob.glob(out + "/*.safetensors")):
        with safe_open(f, "pt") as s:
            keys = list(s.keys())
            dtype = s.get_tensor(keys[0]).dtype
        print("safe_open ok:", f, len(keys), "tensors", dtype)
    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    want = json.load(open(out.rstrip("/") + ".gen.json"))["ids"]
    prompt, n_new = want[:3], len(want) - 3
    got = model.generate(torch.tensor([prompt]), max_new_tokens=n_new, min_new_tokens=n_new, do_sample=False)[0].tolist()
    same = got == want
    ok &= same
    print(out, "layers", model.config.num_hidden_layers, "greedy ids equal to lopper's:", same)
    if not same:
        print("  transformers", got, "\n  lopper      ", want)
sys.exit(0 if ok else 1)
