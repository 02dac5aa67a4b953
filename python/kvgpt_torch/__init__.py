"""kvgpt_torch: kvgpt's GPT in PyTorch, and kvgpt's checkpoints and batches in Python.

The project's one PyTorch definition of the model. Everything that runs kvgpt's model in PyTorch
imports it: bench/torch_train.py (throughput), gpt/testdata/torch_parity.py (the parity test) and
python/train_ddp.py (continuing a kvgpt run under torchrun).

    model       GPTConfig and GPT: baseline, identity (W_Q = I) and residual query modes, exact
                GELU, weight-only LayerNorm, no biases, the LM head tied to wte; kvgpt's
                initialisation, parameter slab layout and weight-decay mask.
    checkpoint  read and write kvgpt checkpoints (safetensors parsed directly: an 8-byte length,
                a JSON header, raw float32 data; CRC-32C of the data section).
    data        kvgpt's tokenizers, 90/10 split, fixed validation batches and its seeded batch
                order (Go's math/rand/v2 PCG-DXSM and IntN, reproduced bit for bit).
    train       the pieces of kvgpt's optimizer step: learning-rate schedule, AdamW restored from
                a checkpoint with kvgpt's decay mask, gradient norm and clipping, evaluation.

The submodules import torch (and numpy) themselves; `data` and the CRC of `checkpoint` need only
numpy. Expected problems (a missing or damaged checkpoint, bad settings) raise KvgptError, whose
message is one line for people.
"""


class KvgptError(Exception):
    """An expected failure (bad input or settings) with a one-line message for people."""
