#!/usr/bin/env python3
"""torch_parity.py: the PyTorch side of kvgpt's parity test (gpt/parity_test.go).

    torch_parity.py IN.safetensors OUT.safetensors

IN holds a model's weights under nanoGPT's state_dict names, a batch ("idx" and "targets", int32
(B, T)) and the config in the metadata (n_layer, n_head, n_embd, block_size, vocab_size,
mlp_hidden, query_mode, attn_scale). This script builds the same model with kvgpt_torch.model
(python/kvgpt_torch: pre-LayerNorm blocks without biases, exact GELU, LM head tied to wte; the
"baseline", query-free "identity" or "residual" query), runs forward and backward on the batch in
float32 and in float64, and writes to OUT, for each dtype D in (float32, float64):

    D/loss            (1)        mean cross-entropy
    D/logits          (B, T, V)
    D/grad/<name>     the gradient of the loss for every parameter <name>

When IN also holds gradients "adamw.grad/<name>" (kvgpt's own, so that both optimizers see the
same input), it runs torch.optim.AdamW in float64 from the weights for adamw_steps steps, each on
those gradients clipped by torch.nn.utils.clip_grad_norm_ to adamw_clip, with weight decay
adamw_wd on tensors of rank ≥ 2 only, and writes the parameters afterwards as

    float64/adamw/<name>

It reads and writes safetensors itself, so it needs only torch (and numpy, which torch brings).
"""
import json
import os
import struct
import sys

import torch

# The model is kvgpt_torch's, the project's one PyTorch definition of it (python/kvgpt_torch).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
from kvgpt_torch.model import GPT, GPTConfig, decays  # noqa: E402

DTYPES = {"F32": torch.float32, "F64": torch.float64, "I32": torch.int32}
NAMES = {v: k for k, v in DTYPES.items()}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    tensors = {}
    for name, info in header.items():
        start, end = info["data_offsets"]
        data = bytearray(raw[base + start:base + end])
        t = torch.frombuffer(data, dtype=DTYPES[info["dtype"]]) if data else torch.empty(0, dtype=DTYPES[info["dtype"]])
        tensors[name] = t.reshape(info["shape"])
    return tensors, meta


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        b = t.detach().contiguous().cpu().numpy().tobytes()
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: torch_parity.py IN.safetensors OUT.safetensors")
    tensors, meta = read_safetensors(sys.argv[1])
    cfg = GPTConfig(**{k: (v if k == "query_mode" else (float(v) if k == "attn_scale" else int(v)))
                       for k, v in meta.items() if not k.startswith("adamw_")})
    idx, targets = tensors.pop("idx").long(), tensors.pop("targets").long()
    adamw_grads = {k[len("adamw.grad/"):]: tensors.pop(k) for k in list(tensors) if k.startswith("adamw.grad/")}
    out = {}
    for dtype, label in ((torch.float32, "float32"), (torch.float64, "float64")):
        model = GPT(cfg).to(dtype)
        model.load_state_dict({k: v.to(dtype) for k, v in tensors.items()}, strict=True)
        logits, loss = model(idx, targets)
        loss.backward()
        out[f"{label}/loss"] = loss.detach().reshape(1)
        out[f"{label}/logits"] = logits.detach()
        for name, p in model.named_parameters():  # the LM head is wte (tied): no lm_head.weight
            out[f"{label}/grad/{name}"] = p.grad
    if adamw_grads:
        out.update(adamw(cfg, tensors, adamw_grads, {k[len("adamw_"):]: float(v) for k, v in meta.items() if k.startswith("adamw_")}))
    write_safetensors(sys.argv[2], out)


def adamw(cfg, weights, grads, h):
    model = GPT(cfg).to(torch.float64)
    model.load_state_dict({k: v.to(torch.float64) for k, v in weights.items()}, strict=True)
    named = dict(model.named_parameters())
    groups = [
        {"params": [p for n, p in named.items() if decays(n, p.shape)], "weight_decay": h["wd"]},
        {"params": [p for n, p in named.items() if not decays(n, p.shape)], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=h["lr"], betas=(h["beta1"], h["beta2"]), eps=h["eps"])
    for _ in range(int(h["steps"])):
        for name, p in named.items():
            p.grad = grads[name].to(torch.float64).clone()
        torch.nn.utils.clip_grad_norm_(list(named.values()), h["clip"])
        opt.step()
    return {f"float64/adamw/{name}": p.detach() for name, p in named.items()}


if __name__ == "__main__":
    main()
