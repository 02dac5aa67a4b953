"""A GPT-2 in plain PyTorch, written from Hugging Face's GPT-2 conventions, to check a directory
that `kvgpt export --format hf` wrote without transformers (which is not installable everywhere).

It follows transformers' modeling_gpt2.py and the GPT2Config it reads, and nothing of kvgpt: the
weights are GPT-2's state_dict (names transformer.h.{i}.attn.c_attn.weight ..., with or without the
"transformer." prefix), every linear layer a Conv1D whose weight is (in, out) and y = x @ W + b;
c_attn's output columns are [Q K V]; LayerNorms have a weight and a bias; positions are learned
(wpe); attention logits are q.k / sqrt(head size) (scale_attn_weights) under a causal mask; the
MLP's activation is config["activation_function"] ("gelu": exact, erf; "gelu_new": GPT-2's tanh
approximation); the LM head is tied to wte. model.safetensors (float32 or float16) is read here
directly: an 8-byte header length, a JSON header, the data.

    python3 hf_gpt2.py DIR TOKENS_JSON

prints a JSON object: "plain", this model's logits (T, V) for the token ids TOKENS_JSON (a JSON list),
and "transformers": transformers' GPT2LMHeadModel.from_pretrained(DIR)'s logits for them, or
{"not_run": why} where transformers cannot be imported.
"""

import json
import math
import os
import struct
import sys

import torch

DTYPES = {"F32": torch.float32, "F16": torch.float16}


def read_safetensors(path):
    """Returns the tensors of a safetensors file as float32, by name, and its metadata."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n :]
    out = {}
    for name, e in header.items():
        lo, hi = e["data_offsets"]
        t = torch.frombuffer(bytearray(data[lo:hi]), dtype=DTYPES[e["dtype"]])
        out[name] = t.reshape(e["shape"]).float()
    return out, meta


class Conv1D(torch.nn.Module):
    """GPT-2's linear layer: weight (nx, nf), y = x @ weight + bias."""

    def __init__(self, nf, nx):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.empty(nx, nf))
        self.bias = torch.nn.Parameter(torch.zeros(nf))

    def forward(self, x):
        return x @ self.weight + self.bias


def activation(name):
    if name == "gelu":
        return lambda x: 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))
    if name in ("gelu_new", "gelu_pytorch_tanh"):
        return lambda x: 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    if name == "relu":
        return torch.relu
    raise ValueError("unknown activation_function %r" % name)


class Attention(torch.nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.n_head, self.n_embd = cfg["n_head"], cfg["n_embd"]
        self.scale = cfg.get("scale_attn_weights", True)
        self.c_attn = Conv1D(3 * self.n_embd, self.n_embd)
        self.c_proj = Conv1D(self.n_embd, self.n_embd)

    def forward(self, x):
        T, C = x.shape
        hd = C // self.n_head
        q, k, v = self.c_attn(x).split(C, dim=-1)
        q, k, v = (t.reshape(T, self.n_head, hd).transpose(0, 1) for t in (q, k, v))  # (nh, T, hd)
        w = q @ k.transpose(-1, -2)
        if self.scale:
            w = w / math.sqrt(hd)
        causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
        w = w.masked_fill(~causal, float("-inf")).softmax(dim=-1)
        return self.c_proj((w @ v).transpose(0, 1).reshape(T, C))


class Block(torch.nn.Module):
    def __init__(self, cfg):
        super().__init__()
        C, eps = cfg["n_embd"], cfg["layer_norm_epsilon"]
        inner = cfg.get("n_inner") or 4 * C
        self.ln_1 = torch.nn.LayerNorm(C, eps=eps)
        self.attn = Attention(cfg)
        self.ln_2 = torch.nn.LayerNorm(C, eps=eps)
        self.mlp = torch.nn.Module()
        self.mlp.c_fc = Conv1D(inner, C)
        self.mlp.c_proj = Conv1D(C, inner)
        self.act = activation(cfg["activation_function"])

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp.c_proj(self.act(self.mlp.c_fc(self.ln_2(x))))


class GPT2(torch.nn.Module):
    def __init__(self, cfg):
        super().__init__()
        C = cfg["n_embd"]
        self.transformer = torch.nn.Module()
        self.transformer.wte = torch.nn.Embedding(cfg["vocab_size"], C)
        self.transformer.wpe = torch.nn.Embedding(cfg["n_positions"], C)
        self.transformer.h = torch.nn.ModuleList(Block(cfg) for _ in range(cfg["n_layer"]))
        self.transformer.ln_f = torch.nn.LayerNorm(C, eps=cfg["layer_norm_epsilon"])

    def forward(self, ids):
        t = self.transformer
        x = t.wte(ids) + t.wpe(torch.arange(len(ids)))
        for block in t.h:
            x = block(x)
        return t.ln_f(x) @ t.wte.weight.T  # the LM head, tied


def load(directory):
    """Returns the GPT-2 of an exported directory, every parameter loaded (an error otherwise)."""
    with open(os.path.join(directory, "config.json")) as f:
        cfg = json.load(f)
    assert cfg["model_type"] == "gpt2", cfg["model_type"]
    weights, meta = read_safetensors(os.path.join(directory, "model.safetensors"))
    assert meta.get("format") == "pt", meta
    model = GPT2(cfg)
    state = {}
    for name, w in weights.items():
        if name == "lm_head.weight":
            continue  # tied to wte
        state[name if name.startswith("transformer.") else "transformer." + name] = w
    model.load_state_dict(state, strict=True)
    return model.eval()


def main():
    directory, tokens = sys.argv[1], json.loads(sys.argv[2])
    ids = torch.tensor(tokens, dtype=torch.long)
    with torch.no_grad():
        out = {"plain": load(directory)(ids).tolist()}
    try:
        import transformers
    except Exception as e:  # not installable here: say so, the caller reports it
        out["transformers"] = {"not_run": "transformers is not importable: %s" % e}
    else:
        m = transformers.GPT2LMHeadModel.from_pretrained(directory, torch_dtype=torch.float32).eval()
        with torch.no_grad():
            logits = m(ids[None, :]).logits[0]
        out["transformers"] = {"logits": logits.tolist(), "version": transformers.__version__}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
