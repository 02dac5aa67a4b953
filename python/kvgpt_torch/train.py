"""The pieces of kvgpt's optimizer step (gpt/train.go) in PyTorch, for continuing a kvgpt run.

    lr_at          warmup + cosine schedule, gpt.TrainConfig.LRAt
    make_model     a GPT loaded with a checkpoint's weights
    make_adamw     torch.optim.AdamW with kvgpt's betas, eps and decay mask, its moments and step
                   restored from the checkpoint
    clip_grads     the global gradient norm and kvgpt's clipping (the norm before clipping is what
                   kvgpt reports)
    evaluate       the mean loss over kvgpt's fixed validation batches
    to_checkpoint  the model and optimizer as a Checkpoint at a step
"""

import math

import numpy as np
import torch

from .checkpoint import EXP_AVG, EXP_AVG_SQ, Checkpoint
from .data import gather, val_offsets
from .model import GPT, decays, slab_layout


def lr_at(tc, s):
    """Learning rate of step s (0-based): linear warmup over Warmup steps, then cosine decay from
    LR to MinLR at the last of Steps steps."""
    lr, min_lr, warmup, steps = tc["LR"], tc["MinLR"], tc["Warmup"], tc["Steps"]
    if s < warmup:
        return lr * (s + 1) / warmup
    span = steps - warmup
    if span <= 1:
        return lr
    ratio = min(max((s - warmup) / (span - 1), 0.0), 1.0)
    return min_lr + 0.5 * (1 + math.cos(math.pi * ratio)) * (lr - min_lr)


def make_model(ck, device):
    """A float32 GPT on device with the checkpoint's parameters."""
    model = GPT(ck.config)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in ck.params().items()}, strict=True)
    return model.to(device)


def make_adamw(model, ck, tc):
    """torch.optim.AdamW over model's parameters with the run's betas and eps, weight decay on
    kvgpt's mask (every tensor of rank >= 2) and the checkpoint's moments and step restored, so
    that its next update is kvgpt's update of step ck.step + 1."""
    wd = tc["WeightDecay"] if tc["WeightDecay"] >= 0 else ck.config.default_weight_decay()
    named = dict(model.named_parameters())
    groups = [
        {"params": [p for n, p in named.items() if decays(n, p.shape)], "weight_decay": wd},
        {"params": [p for n, p in named.items() if not decays(n, p.shape)], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=tc["LR"], betas=(tc["Beta1"], tc["Beta2"]), eps=tc["Eps"], foreach=False)
    for name, (m, v) in ck.moments().items():
        p = named[name]
        opt.state[p] = {"step": torch.tensor(float(ck.step)),
                        "exp_avg": torch.from_numpy(m.copy()).to(p.device),
                        "exp_avg_sq": torch.from_numpy(v.copy()).to(p.device)}
    return opt


def clip_grads(params, clip):
    """Returns the global gradient norm (float64 sum of squares, as a float) and scales the
    gradients by clip/(norm + 1e-6) when it exceeds clip > 0 (torch.nn.utils.clip_grad_norm_'s
    coefficient, which kvgpt uses)."""
    grads = [p.grad for p in params if p.grad is not None]
    # float64 sums of squares, except on MPS, which has no float64
    acc = [torch.float32 if g.device.type == "mps" else torch.float64 for g in grads]
    norm = math.sqrt(sum(float(g.to(a).pow(2).sum()) for g, a in zip(grads, acc)))
    if clip > 0 and norm > clip:
        scale = clip / (norm + 1e-6)
        for g in grads:
            g.mul_(scale)
    return norm


@torch.no_grad()
def evaluate(model, val, B, T, eval_batches, device):
    """Mean loss in nats per token over kvgpt's fixed validation batches: eval_batches
    micro-batches of B sequences, per-token float32 losses averaged in float64 (gpt.Evaluate).
    The caller puts the model in eval mode if it has one (kvgpt's model has no dropout)."""
    offs = val_offsets(len(val), eval_batches * B, T)
    total, n = 0.0, 0
    for j in range(eval_batches):
        x, y = gather(val, offs[j * B:(j + 1) * B], T)  # (B, T) each
        losses = model.token_losses(torch.from_numpy(x).to(device), torch.from_numpy(y).to(device))
        total += float(losses.cpu().double().sum())
        n += losses.numel()
    return total / n


def to_checkpoint(model, opt, ck, step, tc):
    """A Checkpoint of model and opt at step, with ck's metadata and the train config tc."""
    named = dict(model.named_parameters())
    P = ck.config.num_params()
    m, v = np.zeros(P, dtype=np.float32), np.zeros(P, dtype=np.float32)
    tensors = {}
    for name, shape, off in slab_layout(ck.config):
        p = named[name]
        tensors[name] = p.detach().cpu().numpy().astype(np.float32).reshape(shape)
        st = opt.state.get(p, {})
        n = int(np.prod(shape))
        if "exp_avg" in st:
            m[off:off + n] = st["exp_avg"].detach().cpu().numpy().reshape(-1)
            v[off:off + n] = st["exp_avg_sq"].detach().cpu().numpy().reshape(-1)
    tensors[EXP_AVG], tensors[EXP_AVG_SQ] = m, v
    return Checkpoint(ck.config, dict(tc), step, dict(ck.meta), tensors)
