#!/usr/bin/python3
"""train_ddp.py: continue a kvgpt training run with PyTorch DistributedDataParallel.

    torchrun --nproc_per_node N python/train_ddp.py --resume out/run [--steps S]

reads the kvgpt checkpoint out/run/ckpt.safetensors and the run's data settings in it, continues
training to S steps in all (as `kvgpt train --resume --steps S`; default: the run's own step
count) and writes out/run/ckpt.safetensors back in kvgpt's format, from rank 0, atomically — so
`kvgpt sample` and `kvgpt train --resume` take it from there. It appends to out/run/metrics.jsonl
as kvgpt does, and holds out/run/train.lock (kvgpt's lock) while it runs.

What carries over is everything in the checkpoint: weights, AdamW moments and step, the model and
train config (batch size, grad accumulation, learning-rate schedule, betas, eps, weight decay on
tensors of rank >= 2, gradient clipping, evaluation settings, batch seed), the tokenizer and the
path of the data file (--data gives it where the file lives elsewhere; the text must be the same).
The default Go corpus of a run without --data is not reproduced here: pass the text as --data.

Batches. Each optimizer step has M = GradAccum micro-batches of B sequences; micro-batch j of step
s comes from kvgpt's batch table (kvgpt_torch.data: Go's PCG seeded with (seed, s<<16 | j)),
reproduced exactly. With R processes, M must be a multiple of R and rank r takes the contiguous
share j = r·M/R … (r+1)·M/R − 1, so the union over the ranks is the single-process step. Each
rank's loss is divided by M/R; DDP averages the gradients over the R ranks (no_sync on all but a
rank's last micro-batch), which gives the gradient of the mean over all M micro-batches, as
kvgpt's. The gradient norm, clipping, schedule and AdamW are then kvgpt's on every rank.

Devices (--device auto): CUDA with the nccl backend where it is present (one GPU per process);
else, for one process on a Mac, its GPU (MPS); else the CPU with gloo. One process runs without a
process group. --device cpu forces the CPU.
Expected problems print one line, "train_ddp.py: …", and exit with status 1 (torchrun then adds
its own report of the failed processes).
"""

import argparse
import contextlib
import fcntl
import glob
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from kvgpt_torch import KvgptError  # noqa: E402

CHECKPOINT, METRICS, LOCK = "ckpt.safetensors", "metrics.jsonl", "train.lock"  # kvgpt's names in --out


def parse_args(argv):
    p = argparse.ArgumentParser(prog="train_ddp.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--resume", required=True, metavar="DIR", help="the kvgpt run directory (kvgpt train --out) to continue")
    p.add_argument("--steps", type=int, default=0, help="optimizer steps in all (default: the run's own)")
    p.add_argument("--data", help="the training text file (default: the path the checkpoint records)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"),
                   help="auto: cuda if present, else mps for one process, else cpu")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads per process; 0 keeps torch's default")
    p.add_argument("--log-every", type=int, default=10, help="print a progress line every N steps")
    p.add_argument("--checkpoint-every", type=int, default=200, help="write the checkpoint every N steps (and at the end; 0: at the end only)")
    a = p.parse_args(argv)
    if a.log_every < 1 or a.checkpoint_every < 0 or a.steps < 0 or a.threads < 0:
        p.error("--log-every must be >= 1, --checkpoint-every, --steps and --threads >= 0")
    return a


class Run:
    """One process's view of the run: rank, world, device and the resolved settings."""

    def __init__(self, a):
        import torch

        from kvgpt_torch import checkpoint, data

        self.rank, self.world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
        self.local_rank = int(os.environ.get("LOCAL_RANK", 0))
        self.out = a.resume
        self.ckpt_path = os.path.join(a.resume, CHECKPOINT)
        if not os.path.isdir(a.resume):
            raise KvgptError(f"run directory {a.resume} does not exist (--resume takes kvgpt train's --out)")
        self.ck = ck = checkpoint.read(self.ckpt_path)
        self.tc = tc = dict(ck.train)
        for k in ("BatchSize", "GradAccum", "Steps", "LR", "MinLR", "Warmup", "WeightDecay", "Beta1", "Beta2",
                  "Eps", "GradClip", "EvalEvery", "EvalBatches", "Seed"):
            if not isinstance(tc.get(k), (int, float)) or isinstance(tc.get(k), bool):
                raise KvgptError(f"checkpoint {self.ckpt_path}: train_config has no number {k}")
        if a.steps:
            tc["Steps"] = a.steps
        if tc["Steps"] <= ck.step:
            raise KvgptError(f"checkpoint {self.ckpt_path} is at step {ck.step} and the run has {tc['Steps']} steps: "
                             f"pass --steps above {ck.step} to continue")
        if tc["WeightDecay"] < 0:
            tc["WeightDecay"] = ck.config.default_weight_decay()
        M = tc["GradAccum"]
        if M % self.world:
            raise KvgptError(f"{self.world} processes cannot share the {M} micro-batches of a step (grad-accum {M}): "
                             f"use --nproc_per_node dividing {M}, or resume with kvgpt train --grad-accum")
        self.local_micro = M // self.world
        self.micro = range(self.rank * self.local_micro, (self.rank + 1) * self.local_micro)

        self.tok = data.Tokenizer.from_meta(ck.meta)
        if self.tok.vocab_size != ck.config.vocab_size:
            raise KvgptError(f"checkpoint tokenizer has {self.tok.vocab_size} tokens, the model {ck.config.vocab_size}")
        path = a.data or ck.meta.get("data_path", "")
        if not path:
            raise KvgptError("the run trained on kvgpt's default corpus (the Go standard library), which this script "
                             "does not rebuild: pass the same text as --data FILE")
        if os.path.isdir(path) or path.endswith(".bin"):
            # Token files, memory-mapped: a dataset directory (kvgpt prepare's, llm.c's, nanoGPT's)
            # or one token file, as kvgpt reads them.
            self.train, self.val, meta = data.open_dataset(path)
            if meta is not None and meta != self.tok.meta():
                raise KvgptError(f"data {path} holds {meta.get('tokenizer')} tokens of another vocabulary than the checkpoint's ({self.tok.kind})")
            if len(self.train) <= ck.config.block_size or len(self.val) <= ck.config.block_size:
                raise KvgptError(f"data {path} is too short for block size {ck.config.block_size}")
        else:
            try:
                with open(path, "rb") as f:
                    raw = f.read()
            except OSError as e:
                raise KvgptError(f"data file {path}: {e.strerror}") from None
            ids = self.tok.encode_file(raw, path)
            self.train, self.val = data.split(ids, ck.config.block_size, path)
        self.data_path = path

        if a.threads:
            torch.set_num_threads(a.threads)
        dev = a.device
        mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
        if dev == "auto":
            dev = "cuda" if torch.cuda.is_available() else "mps" if mps and self.world == 1 else "cpu"
        if dev == "cuda" and not torch.cuda.is_available():
            raise KvgptError("--device cuda: torch finds no CUDA device")
        if dev == "mps":
            if not mps:
                raise KvgptError("--device mps: torch finds no MPS device (a Mac with Apple silicon)")
            if self.world > 1:
                raise KvgptError("--device mps runs one process (the Mac's one GPU): use --nproc_per_node 1")
        self.device = torch.device(f"cuda:{self.local_rank}" if dev == "cuda" else dev)
        if dev == "cuda":
            torch.cuda.set_device(self.device)
        self.backend = "nccl" if dev == "cuda" else "gloo"


@contextlib.contextmanager
def out_lock(run):
    """Holds kvgpt's lock of the run directory (flock on train.lock, with our pid) on rank 0, and
    removes the temporary files of an interrupted checkpoint write, as kvgpt train does."""
    if run.rank != 0:
        yield
        return
    path = os.path.join(run.out, LOCK)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise KvgptError(f"cannot lock the run directory {run.out}: {e.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise KvgptError(f"run directory {run.out} is in use by another training process (which holds {path})") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        for tmp in glob.glob(os.path.join(glob.escape(run.out), "." + CHECKPOINT + ".tmp*")):
            os.unlink(tmp)
        yield
    finally:
        os.close(fd)


def truncate_metrics(path, step):
    """Drops the records of the metrics file past step (a crash after the checkpoint), as kvgpt."""
    try:
        with open(path) as f:
            lines = f.readlines()
    except FileNotFoundError:
        return
    keep = []
    for line in lines:
        try:
            if json.loads(line)["step"] <= step:
                keep.append(line)
        except (ValueError, KeyError, TypeError):
            pass
    with open(path, "w") as f:
        f.writelines(keep)


def main(argv):
    a = parse_args(argv)
    try:
        import torch  # noqa: F401
    except ImportError:
        raise KvgptError(f"{sys.executable} has no torch; run with /usr/bin/python3 (Debian: apt-get install python3-torch)")
    run = Run(a)
    with out_lock(run):
        train(run, a)


def train(run, a):
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    from kvgpt_torch import checkpoint
    from kvgpt_torch.data import batch_offsets, gather
    from kvgpt_torch.train import clip_grads, evaluate, lr_at, make_adamw, make_model, to_checkpoint

    ck, tc, dev, rank = run.ck, run.tc, run.device, run.rank
    cfg = ck.config
    B, T, M = tc["BatchSize"], cfg.block_size, tc["GradAccum"]
    distributed = run.world > 1
    if distributed:
        dist.init_process_group(run.backend)
    model = make_model(ck, dev)
    opt = make_adamw(model, ck, tc)
    params = list(model.parameters())
    net = DDP(model, device_ids=[dev] if dev.type == "cuda" else None) if distributed else model
    say = print if rank == 0 else (lambda *x, **k: None)

    say(f"data: {run.data_path}: {run.tok.kind} tokens (V={run.tok.vocab_size}): {len(run.train)} train, {len(run.val)} validation")
    say(f"model: {cfg.query_mode}, L={cfg.n_layer} C={cfg.n_embd} NH={cfg.n_head} T={T} H={cfg.hidden}, "
        f"attention scale {cfg.scale():.4g}, {cfg.num_params()} parameters")
    say(f"train: steps {ck.step} → {tc['Steps']}, {M * B * T} tokens per step (B={B} × T={T} × accum {M}), "
        f"{run.world} process(es) × {run.local_micro} micro-batches, {run.backend if distributed else 'no process group'}, "
        f"device {dev}, torch {torch.__version__}, {torch.get_num_threads()} threads per process")
    if rank == 0:
        v = evaluate(model, run.val, B, T, tc["EvalBatches"], dev)
        say(f"resumed from {run.ckpt_path} at step {ck.step} | val loss {v!r}")
        metrics_path = os.path.join(run.out, METRICS)
        truncate_metrics(metrics_path, ck.step)
        metrics = open(metrics_path, "a")

    def save(step):
        if rank == 0:
            checkpoint.write(run.ckpt_path, to_checkpoint(model, opt, ck, step, tc))

    step, first, start = ck.step, ck.step, time.perf_counter()
    tokens_per_step = M * B * T
    while step < tc["Steps"]:
        model.train()
        opt.zero_grad(set_to_none=True)
        losses = []  # this rank's micro-batch losses, on the device
        for i, j in enumerate(run.micro):
            x, y = gather(run.train, batch_offsets(tc["Seed"], len(run.train), B, T, step, j), T)  # (B, T) each
            x, y = torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)
            sync = contextlib.nullcontext() if not distributed or i == run.local_micro - 1 else net.no_sync()
            with sync:
                _, loss = net(x, y)
                (loss / run.local_micro).backward()  # DDP then averages over the ranks: the mean over M
            losses.append(loss.detach())
        step_loss = torch.stack(losses).sum()
        if distributed:
            dist.all_reduce(step_loss)
        loss = float(step_loss) / M  # waits for the device: the step's one read-back besides the norm
        norm = clip_grads(params, tc["GradClip"])  # the same on every rank: the gradients are averaged
        if not (math.isfinite(loss) and math.isfinite(norm)):
            raise KvgptError(f"training diverged at step {step + 1}: loss {loss}, gradient norm {norm} "
                             "(the parameters were not updated; the checkpoint is the last good state)")
        lr = lr_at(tc, step)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.step()
        step += 1
        el = time.perf_counter() - start
        rate = (step - first) * tokens_per_step / max(el, 1e-9)
        val = None
        if (tc["EvalEvery"] > 0 and step % tc["EvalEvery"] == 0) or step == tc["Steps"]:
            if rank == 0:
                val = evaluate(model, run.val, B, T, tc["EvalBatches"], dev)
        if rank == 0:
            rec = {"step": step, "steps": tc["Steps"], "loss": loss, "lr": lr, "grad_norm": norm,
                   "tokens": step * tokens_per_step, "tokens_per_sec": rate, "elapsed_sec": el,
                   "eta_sec": el / (step - first) * (tc["Steps"] - step)}
            if val is not None:
                rec["val_loss"] = val
            metrics.write(json.dumps(rec) + "\n")
            if step % a.log_every == 0 or step == tc["Steps"] or val is not None:
                line = (f"step {step}/{tc['Steps']} | loss {loss:.4f} | lr {lr:.2e} | {rate:.0f} tok/s "
                        f"({rate / run.world:.0f} per process) | ETA {rec['eta_sec']:.0f}s")
                say(line + (f" | val loss {val:.4f}" if val is not None else ""), flush=True)
                metrics.flush()
        if a.checkpoint_every and step % a.checkpoint_every == 0 and step != tc["Steps"]:
            save(step)
    save(step)
    if rank == 0:
        metrics.close()
        say(f"done: {step - first} steps in {time.perf_counter() - start:.1f}s; checkpoint {run.ckpt_path} | val loss {val!r}")
    if distributed:
        dist.destroy_process_group()


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except KvgptError as e:
        if int(os.environ.get("RANK", 0)) == 0:
            print(f"train_ddp.py: {e}", file=sys.stderr)
        sys.exit(1)
