#!/usr/bin/python3
"""torch_train.py — PyTorch reference for kvgpt's training throughput.

Trains the model kvgpt trains — kvgpt_torch.model, the project's one PyTorch definition of it
(nanoGPT-style, no biases, weight-only LayerNorm, exact GELU, tied embeddings, baseline or
identity/query-free attention, N(0, 0.02) init with the two output projections at 0.02/sqrt(2L))
— with AdamW (0.9, 0.95, eps 1e-8), decay on rank >= 2 tensors and gradient clipping at 1.0, in
float32 on the CPU, and prints one JSON object with the measured
training tokens/s (of the median step); with --mode baseline,identity one line per mode.

    /usr/bin/python3 bench/torch_train.py --mode identity --threads 2 --config \
        '{"preset": "medium", "n_layer": 6, "n_head": 6, "n_embd": 384, "block_size": 256,
          "batch_size": 8, "mlp_hidden": 1536, "vocab_size": 256}'

The shape comes from the caller as JSON (kvgpt bench passes its preset, bench.TorchConfig, so the
two always train the same shape; the presets themselves live in kvgpt's gpt/presets.go). The data
is a byte file (--data) or, by default, uniform random bytes: throughput does not depend on the
text.

Run it with Debian's /usr/bin/python3 (python3-torch); a python3 without torch gets a clear error.
"""

import argparse
import json
import os
import statistics
import sys
import time

# The model is kvgpt_torch's (python/kvgpt_torch), found next to this file (where kvgpt bench
# writes both) or in the repository's python/ directory.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [_here, os.path.join(_here, "..", "python")]

# The keys of --config, all required: the shape and batch size of a kvgpt preset (bench.TorchConfig).
CONFIG_KEYS = ("preset", "n_layer", "n_head", "n_embd", "block_size", "batch_size", "mlp_hidden", "vocab_size")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="the shape as a JSON object with the keys " + ", ".join(CONFIG_KEYS))
    p.add_argument("--mode", default="baseline",
                   help="baseline, identity (alias reduced), residual, or a comma-separated list: one JSON line each")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads; 0 keeps torch's default")
    p.add_argument("--steps", type=int, default=10, help="timed optimizer steps")
    p.add_argument("--warmup-steps", type=int, default=2, help="untimed steps first")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=-1, help="< 0: the mode's default (0.1 baseline, 2^-5 identity and residual)")
    p.add_argument("--data", help="a text file read as bytes; default: random bytes")
    p.add_argument("--seed", type=int, default=1337)
    a = p.parse_args(argv)
    try:
        cfg = json.loads(a.config)
    except ValueError as e:
        p.error(f"--config is not JSON: {e}")
    if not isinstance(cfg, dict):
        p.error("--config must be a JSON object")
    missing = [k for k in CONFIG_KEYS if k not in cfg]
    unknown = sorted(set(cfg) - set(CONFIG_KEYS))
    if missing or unknown:
        p.error(f"--config: missing keys {missing}, unknown keys {unknown}")
    modes = []
    for m in a.mode.split(","):
        m = "identity" if m.strip() == "reduced" else m.strip()
        if m not in ("baseline", "identity", "residual"):
            p.error(f"unknown --mode {m!r} (want baseline, identity (alias reduced) or residual)")
        modes.append(m)
    for k in CONFIG_KEYS[1:]:
        if not isinstance(cfg[k], int) or cfg[k] < 1:
            p.error(f"--config: {k} must be an integer >= 1, got {cfg[k]!r}")
    if cfg["n_embd"] % cfg["n_head"]:
        p.error(f"n_embd {cfg['n_embd']} is not divisible by n_head {cfg['n_head']}")
    if a.steps < 1 or a.warmup_steps < 0:
        p.error("--steps must be >= 1 and --warmup-steps >= 0")
    return a, cfg, modes


def build(cfg):
    """The GPT of cfg (this script's config plus "mode") from kvgpt_torch, initialised as kvgpt
    initialises (not from its random stream)."""
    from kvgpt_torch.model import GPT, GPTConfig

    model = GPT(GPTConfig(n_layer=cfg["n_layer"], n_head=cfg["n_head"], n_embd=cfg["n_embd"],
                          block_size=cfg["block_size"], vocab_size=cfg["vocab_size"],
                          mlp_hidden=cfg["mlp_hidden"], query_mode=cfg["mode"]))
    model.init_weights()
    return model


def main(argv):
    a, cfg, modes = parse_args(argv)
    try:
        import torch
    except ImportError:
        sys.exit(f"torch_train.py: {sys.executable} has no torch; run it with /usr/bin/python3 "
                 "(Debian: apt-get install python3-torch)")
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    B, T, V = cfg["batch_size"], cfg["block_size"], cfg["vocab_size"]
    if a.data:
        with open(a.data, "rb") as f:
            data = torch.frombuffer(bytearray(f.read()), dtype=torch.uint8).long() % V
        if len(data) < T + 2:
            sys.exit(f"torch_train.py: {a.data} has {len(data)} bytes, fewer than block_size+2")
    else:
        data = torch.randint(0, V, (1 << 20,), generator=torch.Generator().manual_seed(a.seed))
    for mode in modes:  # one process for all modes: torch is imported once
        print(json.dumps(train(torch, a, dict(cfg, mode=mode), data)), flush=True)


def train(torch, a, cfg, data):
    """Trains cfg for a.warmup_steps + a.steps steps and returns the measurements."""
    torch.manual_seed(a.seed)
    model = build(cfg)
    n_params = sum(p.numel() for p in model.parameters())  # the tied weight counts once

    from kvgpt_torch.model import decays

    wd = a.weight_decay if a.weight_decay >= 0 else model.config.default_weight_decay()
    named = list(model.named_parameters())
    params = [p for _, p in named]
    groups = [
        {"params": [p for n, p in named if decays(n, p.shape)], "weight_decay": wd},
        {"params": [p for n, p in named if not decays(n, p.shape)], "weight_decay": 0.0},
    ]
    # foreach: one multi-tensor update instead of a Python loop over the parameters (PyTorch's
    # fastest CPU AdamW in 1.13; later versions pick it by default).
    opt = torch.optim.AdamW(groups, lr=a.lr, betas=(0.9, 0.95), eps=1e-8, foreach=True)

    B, T = cfg["batch_size"], cfg["block_size"]
    g = torch.Generator().manual_seed(a.seed)

    def batch():
        ix = torch.randint(0, len(data) - T - 1, (B,), generator=g)
        x = torch.stack([data[i:i + T] for i in ix])
        y = torch.stack([data[i + 1:i + T + 1] for i in ix])
        return x, y

    def step():
        x, y = batch()
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss.item()  # waits for the step, as kvgpt's loss read does

    losses = [step() for _ in range(a.warmup_steps)]
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        losses.append(step())
        times.append(time.perf_counter() - t0)
    # The median step, as kvgpt bench reports: robust to steps another process slowed down.
    med = statistics.median(times)
    return {
        "framework": "pytorch",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "preset": cfg["preset"],
        "mode": cfg["mode"],
        "config": cfg,
        "params": n_params,
        "steps": a.steps,
        "tokens_per_step": B * T,
        "seconds": med,
        "ms_per_step": 1e3 * med,
        "tokens_per_sec": B * T / med,
        "tokens_per_sec_mean": B * T * a.steps / sum(times),
        "loss_first": losses[0],
        "loss_last": losses[-1],
    }


if __name__ == "__main__":
    main(sys.argv[1:])
