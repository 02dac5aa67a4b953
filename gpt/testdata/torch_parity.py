#!/usr/bin/env python3
"""torch_parity.py: the PyTorch side of kvgpt's parity test (gpt/parity_test.go).

    torch_parity.py IN.safetensors OUT.safetensors

IN holds a model's weights under nanoGPT's state_dict names, a batch ("idx" and "targets", int32
(B, T)) and the config in the metadata (n_layer, n_head, n_embd, block_size, vocab_size,
mlp_hidden, query_mode, attn_scale). This script builds the same model as a minimal nanoGPT
(pre-LayerNorm blocks without biases, exact GELU, LM head tied to wte), in the "baseline" mode
(c_attn projects to [Q K V]) or the query-free "identity" mode (c_attn projects to [K V], the query
of each head is the LayerNorm output itself), runs forward and backward on the batch in float32
and in float64, and writes to OUT, for each dtype D in (float32, float64):

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
import math
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

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


class LayerNorm(nn.Module):
    """LayerNorm with a weight and no bias, eps 1e-5 (as nanoGPT with bias=False)."""

    def __init__(self, ndim):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, None, 1e-5)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.identity = cfg["query_mode"] == "identity"
        self.n_head, self.n_embd = cfg["n_head"], cfg["n_embd"]
        width = 2 if self.identity else 3
        self.c_attn = nn.Linear(self.n_embd, width * self.n_embd, bias=False)
        self.c_proj = nn.Linear(self.n_embd, self.n_embd, bias=False)
        dh = self.n_embd // self.n_head
        self.scale = cfg["attn_scale"] or (1 / (2 * math.sqrt(dh)) if self.identity else 1 / math.sqrt(dh))

    def forward(self, x):
        B, T, C = x.size()
        if self.identity:
            q = x  # W_Q = I: the query of each head is its slice of the LayerNorm output
            k, v = self.c_attn(x).split(C, dim=2)
        else:
            q, k, v = self.c_attn(x).split(C, dim=2)
        heads = lambda t: t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, dh)
        q, k, v = heads(q), heads(k), heads(v)
        att = (q @ k.transpose(-2, -1)) * self.scale
        mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
        att = F.softmax(att.masked_fill(~mask, float("-inf")), dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        hidden = cfg["mlp_hidden"] or 4 * cfg["n_embd"]
        self.c_fc = nn.Linear(cfg["n_embd"], hidden, bias=False)
        self.c_proj = nn.Linear(hidden, cfg["n_embd"], bias=False)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x)))  # exact (erf) GELU


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.ln_1 = LayerNorm(cfg["n_embd"])
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = LayerNorm(cfg["n_embd"])
        self.mlp = MLP(cfg)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(cfg["vocab_size"], cfg["n_embd"]),
            wpe=nn.Embedding(cfg["block_size"], cfg["n_embd"]),
            h=nn.ModuleList([Block(cfg) for _ in range(cfg["n_layer"])]),
            ln_f=LayerNorm(cfg["n_embd"]),
        ))
        self.lm_head = nn.Linear(cfg["n_embd"], cfg["vocab_size"], bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying

    def forward(self, idx, targets):
        T = idx.size(1)
        pos = torch.arange(T, dtype=torch.long)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        return logits, loss


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: torch_parity.py IN.safetensors OUT.safetensors")
    tensors, meta = read_safetensors(sys.argv[1])
    cfg = {k: (v if k == "query_mode" else (float(v) if k == "attn_scale" else int(v)))
           for k, v in meta.items() if not k.startswith("adamw_")}
    idx, targets = tensors.pop("idx").long(), tensors.pop("targets").long()
    adamw_grads = {k[len("adamw.grad/"):]: tensors.pop(k) for k in list(tensors) if k.startswith("adamw.grad/")}
    out = {}
    for dtype, label in ((torch.float32, "float32"), (torch.float64, "float64")):
        model = GPT(cfg).to(dtype)
        state = {k: v.to(dtype) for k, v in tensors.items()}
        state["lm_head.weight"] = state["transformer.wte.weight"]
        model.load_state_dict(state, strict=True)
        logits, loss = model(idx, targets)
        loss.backward()
        out[f"{label}/loss"] = loss.detach().reshape(1)
        out[f"{label}/logits"] = logits.detach()
        for name, p in model.named_parameters():  # lm_head.weight is wte (tied): listed once
            out[f"{label}/grad/{name}"] = p.grad
    if adamw_grads:
        out.update(adamw(cfg, tensors, adamw_grads, {k[len("adamw_"):]: float(v) for k, v in meta.items() if k.startswith("adamw_")}))
    write_safetensors(sys.argv[2], out)


def adamw(cfg, weights, grads, h):
    model = GPT(cfg).to(torch.float64)
    state = {k: v.to(torch.float64) for k, v in weights.items()}
    state["lm_head.weight"] = state["transformer.wte.weight"]
    model.load_state_dict(state, strict=True)
    named = dict(model.named_parameters())
    groups = [
        {"params": [p for p in named.values() if p.dim() >= 2], "weight_decay": h["wd"]},
        {"params": [p for p in named.values() if p.dim() < 2], "weight_decay": 0.0},
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
