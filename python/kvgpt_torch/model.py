"""kvgpt's GPT as a torch.nn.Module: the one PyTorch definition of the model in the project.

A block is two residual lines with pre-LayerNorm (weight only, eps 1e-5) and no biases:

    x = x + attn.c_proj(Attention(ln_1(x)))
    x = x + mlp.c_proj(GELU(mlp.c_fc(ln_2(x))))          # exact (erf) GELU

then ln_f and the LM head tied to the token embedding (logits = ln_f(x) · wteᵀ). The attention
input projection c_attn and the query depend on the mode (u = ln_1(x), (B, T, C)):

    baseline   [q k v] = u · c_attnᵀ (3C × C)                 logits scale 1/√dh
    identity   [k v]   = u · c_attnᵀ (2C × C), q = u (W_Q = I)    logits scale 1/(2√dh)
    residual   [k v] as identity, q = ½(u + f(u)),                logits scale 1/√dh
               f(u) = q_ln(q_proj(GELU(q_fc(q_norm(u)))))   q_norm an RMSNorm (eps 1e-5),
               q_fc (C/2 × C), q_proj (C × C/2), q_ln a weight-only LayerNorm

An explicit attn_scale replaces the mode's scale. Parameter names are nanoGPT's state_dict names,
without lm_head.weight (the head reuses transformer.wte.weight), so a model's named_parameters()
are exactly the tensors of a kvgpt checkpoint. Dimension letters: B batch, T time, C width, NH
heads, dh = C/NH, H MLP hidden width, V vocabulary.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import KvgptError

MODES = ("baseline", "identity", "residual")
EPS = 1e-5  # LayerNorm and RMSNorm, as kvgpt's kernels


@dataclass
class GPTConfig:
    """The shape of a model, in nanoGPT's names; the fields of kvgpt's gpt.Config."""

    n_layer: int
    n_head: int
    n_embd: int
    block_size: int
    vocab_size: int
    mlp_hidden: int = 0  # 0 means 4·n_embd
    query_mode: str = "baseline"
    attn_scale: float = 0.0  # 0 means the mode's default

    @classmethod
    def from_kvgpt(cls, c):
        """Returns the config of kvgpt's gpt.Config as JSON-decoded (NLayer, NHead, …)."""
        try:
            cfg = cls(n_layer=int(c["NLayer"]), n_head=int(c["NHead"]), n_embd=int(c["NEmbd"]),
                      block_size=int(c["BlockSize"]), vocab_size=int(c["VocabSize"]),
                      mlp_hidden=int(c.get("MLPHidden", 0)), query_mode=str(c["QueryMode"]),
                      attn_scale=float(c.get("AttnScale", 0)))
        except (KeyError, TypeError, ValueError) as e:
            raise KvgptError(f"model config {c!r} is not a kvgpt config: {e}") from None
        cfg.validate()
        return cfg

    def to_kvgpt(self):
        """Returns the config as kvgpt's gpt.Config JSON object."""
        return {"NLayer": self.n_layer, "NHead": self.n_head, "NEmbd": self.n_embd,
                "BlockSize": self.block_size, "VocabSize": self.vocab_size,
                "MLPHidden": self.mlp_hidden, "QueryMode": self.query_mode,
                "AttnScale": self.attn_scale}

    def validate(self):
        """Raises KvgptError for a shape kvgpt would refuse."""
        if self.query_mode not in MODES:
            raise KvgptError(f"unknown query mode {self.query_mode!r} (want baseline, identity or residual)")
        for k in ("n_layer", "n_head", "n_embd", "block_size"):
            if getattr(self, k) < 1:
                raise KvgptError(f"model config: {k} must be >= 1, got {getattr(self, k)}")
        if self.vocab_size < 2 or self.mlp_hidden < 0 or self.attn_scale < 0:
            raise KvgptError(f"model config is out of range: {self}")
        if self.n_embd % self.n_head:
            raise KvgptError(f"n_embd {self.n_embd} is not divisible by n_head {self.n_head}")
        if self.query_mode == "residual" and self.n_embd % 2:
            raise KvgptError(f"the residual query mode needs an even n_embd, got {self.n_embd}")

    @property
    def hidden(self):
        """H, the MLP hidden width."""
        return self.mlp_hidden or 4 * self.n_embd

    @property
    def qkv_width(self):
        """Rows of c_attn: 3C in the baseline mode ([Q K V]), 2C in the others ([K V])."""
        return (3 if self.query_mode == "baseline" else 2) * self.n_embd

    def scale(self):
        """The attention logit scale of kvgpt's Config.Scale (rounded to float32, as kvgpt's)."""
        s = self.attn_scale
        if not s:
            s = 1 / math.sqrt(self.n_embd // self.n_head)
            if self.query_mode == "identity":
                s /= 2
        return float(torch.tensor(s, dtype=torch.float32))

    def default_weight_decay(self):
        """AdamW decay of the mode: 0.1 baseline, 2⁻⁵ identity and residual."""
        return 0.1 if self.query_mode == "baseline" else 1 / 32

    def num_params(self):
        """Parameter count (the tied embedding once), as kvgpt's Config.NumParams."""
        C, L, H = self.n_embd, self.n_layer, self.hidden
        rq = C + (C // 2) * C * 2 + C if self.query_mode == "residual" else 0
        return self.vocab_size * C + self.block_size * C + L * (C + self.qkv_width * C + C * C + C + 2 * H * C + rq) + C


def slab_layout(cfg):
    """Returns [(name, shape, offset)] for every parameter, in kvgpt's tensor order, with offset
    the tensor's start in kvgpt's flat parameter slab (llm.c order: all layers' ln_1 weights,
    then all c_attn weights, …). The AdamW moments of a checkpoint are stored in slab order."""
    C, L, H, QC, C2 = cfg.n_embd, cfg.n_layer, cfg.hidden, cfg.qkv_width, cfg.n_embd // 2
    rq = cfg.query_mode == "residual"
    # (field, per-layer shape) in slab order, as gpt.ParamViews.
    fields = [("ln_1", (C,)), ("attn.c_attn", (QC, C)), ("attn.c_proj", (C, C)), ("ln_2", (C,)),
              ("mlp.c_fc", (H, C)), ("mlp.c_proj", (C, H))]
    tail = [("attn.q_norm", (C,)), ("attn.q_fc", (C2, C)), ("attn.q_proj", (C, C2)), ("attn.q_ln", (C,))]
    base, off = {}, cfg.vocab_size * C + cfg.block_size * C
    for f, shape in fields:
        base[f] = off
        off += L * math.prod(shape)
    lnf = off
    off += C
    if rq:
        for f, shape in tail:
            base[f] = off
            off += L * math.prod(shape)
    out = [("transformer.wte.weight", (cfg.vocab_size, C), 0),
           ("transformer.wpe.weight", (cfg.block_size, C), cfg.vocab_size * C)]
    for l in range(L):
        for f, shape in fields + (tail if rq else []):
            out.append((f"transformer.h.{l}.{f}.weight", shape, base[f] + l * math.prod(shape)))
    out.append(("transformer.ln_f.weight", (C,), lnf))
    assert off == cfg.num_params()
    return out


def decays(name, shape):
    """Whether AdamW decays the tensor: kvgpt's mask is 1 on every tensor of rank >= 2 (the
    embeddings included) and 0 on the LayerNorm and RMSNorm weights."""
    return len(shape) >= 2


class LayerNorm(nn.Module):
    """LayerNorm with a weight and no bias (torch 1.13's nn.LayerNorm always has a bias)."""

    def __init__(self, C):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(C))

    def forward(self, x):  # (…, C)
        return F.layer_norm(x, self.weight.shape, self.weight, None, EPS)


class RMSNorm(nn.Module):
    """x·w / √(mean(x²) + eps), as kvgpt's RMSNorm op (the residual query path)."""

    def __init__(self, C):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(C))

    def forward(self, x):  # (…, C)
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * self.weight


class CausalSelfAttention(nn.Module):
    """Multi-head causal attention with the mode's query (see the module docstring)."""

    def __init__(self, cfg):
        super().__init__()
        C = cfg.n_embd
        self.mode, self.n_head = cfg.query_mode, cfg.n_head
        self.c_attn = nn.Linear(C, cfg.qkv_width, bias=False)
        self.c_proj = nn.Linear(C, C, bias=False)
        if self.mode == "residual":
            self.q_norm = RMSNorm(C)
            self.q_fc = nn.Linear(C, C // 2, bias=False)
            self.q_proj = nn.Linear(C // 2, C, bias=False)
            self.q_ln = LayerNorm(C)
        self.scale = cfg.scale()

    def forward(self, u):  # u = ln_1(x), (B, T, C)
        B, T, C = u.shape
        scale = self.scale
        if self.mode == "baseline":
            q, k, v = self.c_attn(u).split(C, dim=2)
        else:
            k, v = self.c_attn(u).split(C, dim=2)
            q = u  # identity: W_Q = I
            if self.mode == "residual":
                # 2Q = u + f(u), and the ½ goes into the scale, in the order kvgpt computes it.
                q, scale = u + self.q_ln(self.q_proj(F.gelu(self.q_fc(self.q_norm(u))))), scale / 2
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, NH, T, dh)
        att = (q @ k.transpose(-2, -1)) * scale  # (B, NH, T, T)
        # The causal mask is made per call, not kept as a buffer: DDP would broadcast a bool buffer,
        # which gloo cannot.
        future = torch.ones(T, T, dtype=torch.bool, device=u.device).triu(1)  # (T, T) True above the diagonal
        att = att.masked_fill(future, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)  # (B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, cfg.hidden, bias=False)
        self.c_proj = nn.Linear(cfg.hidden, cfg.n_embd, bias=False)

    def forward(self, x):  # (B, T, C)
        return self.c_proj(F.gelu(self.c_fc(x)))  # exact (erf) GELU


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.ln_1 = LayerNorm(cfg.n_embd)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = LayerNorm(cfg.n_embd)
        self.mlp = MLP(cfg)

    def forward(self, x):  # (B, T, C)
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """kvgpt's GPT. forward(idx, targets) returns (logits (B, T, V), mean cross-entropy or None)."""

    def __init__(self, cfg):
        super().__init__()
        cfg.validate()
        self.config = cfg
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(cfg.vocab_size, cfg.n_embd),
            wpe=nn.Embedding(cfg.block_size, cfg.n_embd),
            h=nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer)),
            ln_f=LayerNorm(cfg.n_embd),
        ))

    def init_weights(self, generator=None):
        """nanoGPT's initialisation, as kvgpt's (not its random stream): matrices and embeddings
        N(0, 0.02), the two residual output projections N(0, 0.02/√(2L)), norm weights 1."""
        proj_std = 0.02 / math.sqrt(2 * self.config.n_layer)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if p.dim() < 2:
                    p.fill_(1.0)
                else:
                    std = proj_std if name.endswith(("attn.c_proj.weight", "mlp.c_proj.weight")) else 0.02
                    p.normal_(0.0, std, generator=generator)

    def forward(self, idx, targets=None):  # idx, targets (B, T) int64
        T = idx.shape[1]
        pos = torch.arange(T, dtype=torch.long, device=idx.device)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)  # (B, T, C)
        for block in self.transformer.h:
            x = block(x)
        logits = F.linear(self.transformer.ln_f(x), self.transformer.wte.weight)  # (B, T, V), tied head
        if targets is None:
            return logits, None
        return logits, F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))

    def token_losses(self, idx, targets):
        """Per-token cross-entropy (B·T), float32: what kvgpt's evaluation averages."""
        logits, _ = self(idx)
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1), reduction="none")
