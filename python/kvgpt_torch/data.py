"""kvgpt's data in Python: tokenizers, the 90/10 split, the fixed validation batches and the
seeded batch order, each the same as kvgpt's gpt package computes it (gpt/data.go, gpt/train.go).

The batch order is reproduced, not exported: kvgpt draws the B start offsets of micro-batch j of
step s from Go's math/rand/v2 generator rand.New(rand.NewPCG(seed, s<<16 | j)), one IntN(n) per
sequence with n = len(train) − T. Pcg and int_n below are that generator (PCG with a 128-bit LCG
state and the DXSM output function) and Go's IntN (Lemire's multiply-and-reject), in Python
integers, so a run continued in PyTorch sees the batches kvgpt would have drawn. The Go tests of
package python compare them with Go's on many seeds, steps and sizes.
"""

import numpy as np

from . import KvgptError

VAL_FRACTION = 0.1  # gpt.ValFraction
M64 = (1 << 64) - 1

# The constants of Go's math/rand/v2 PCG: the 128-bit LCG multiplier and increment, each as
# (high, low) 64-bit halves, and DXSM's 64-bit multiplier.
_MUL = (2549297995355413924 << 64) | 4865540595714422341
_INC = (6364136223846793005 << 64) | 1442695040888963407
_CHEAP_MUL = 0xDA942042E4DD58B5


class Pcg:
    """Go's rand.NewPCG(seed1, seed2): state hi:lo = seed1:seed2; each value advances the 128-bit
    LCG and returns the DXSM mix of the new state."""

    def __init__(self, seed1, seed2):
        self.state = ((seed1 & M64) << 64) | (seed2 & M64)

    def uint64(self):
        self.state = (self.state * _MUL + _INC) & ((1 << 128) - 1)
        hi, lo = self.state >> 64, self.state & M64
        hi ^= hi >> 32
        hi = (hi * _CHEAP_MUL) & M64
        hi ^= hi >> 48
        return (hi * (lo | 1)) & M64


def int_n(rng, n):
    """Go's (*rand.Rand).IntN(n) on a 64-bit platform: a uniform integer in [0, n)."""
    if n <= 0:
        raise ValueError("int_n: n must be > 0")
    if n & (n - 1) == 0:  # a power of two: mask
        return rng.uint64() & (n - 1)
    prod = rng.uint64() * n
    hi, lo = prod >> 64, prod & M64
    if lo < n:
        thresh = (-n & M64) % n  # 2⁶⁴ mod n
        while lo < thresh:
            prod = rng.uint64() * n
            hi, lo = prod >> 64, prod & M64
    return hi


def batch_offsets(seed, n_tokens, B, T, step, micro):
    """The B start offsets of micro-batch `micro` of step `step` (0-based), as gpt.BatchTable:
    sequence i is tokens [off, off+T] of the training split (T inputs, T shifted targets)."""
    rng = Pcg(seed, (step << 16) | micro)
    return [int_n(rng, n_tokens - T) for _ in range(B)]


def val_offsets(n_val, n_seqs, T):
    """The start offsets of kvgpt's fixed validation sequences: n_seqs = eval_batches·B, evenly
    spaced over the validation split (gpt.NewTrainer)."""
    span = n_val - T - 1
    return [i * span // (n_seqs - 1) if n_seqs > 1 else 0 for i in range(n_seqs)]


def gather(tokens, offsets, T):
    """Returns inputs and targets, each (len(offsets), T) int64, of the sequences at offsets."""
    ix = np.asarray(offsets, dtype=np.int64)[:, None] + np.arange(T, dtype=np.int64)  # (N, T)
    return tokens[ix], tokens[ix + 1]


class Tokenizer:
    """A checkpoint's tokenizer: "byte" (token i is byte i) or "char" (token i is the i-th
    character of the vocabulary the checkpoint records)."""

    def __init__(self, kind, chars=""):
        if kind not in ("byte", "char"):
            raise KvgptError(f"checkpoint names no known tokenizer ({kind!r}; want byte or char)")
        self.kind, self.chars = kind, chars
        if kind == "char":
            if len(set(chars)) != len(chars) or len(chars) < 2:
                raise KvgptError("checkpoint's character vocabulary repeats a character or has fewer than 2")
            self.index = {ord(c): i for i, c in enumerate(chars)}

    @classmethod
    def from_meta(cls, meta):
        """The tokenizer recorded in checkpoint metadata (gpt.TokenizerMeta)."""
        return cls(meta.get("tokenizer", ""), meta.get("chars", ""))

    @property
    def vocab_size(self):
        return 256 if self.kind == "byte" else len(self.chars)

    def encode_file(self, raw, source):
        """Token ids (int64) of the bytes raw of a data file named source."""
        if self.kind == "byte":
            return np.frombuffer(raw, dtype=np.uint8).astype(np.int64)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise KvgptError(f"data {source}: not UTF-8 text ({e.reason} at byte {e.start}), and the checkpoint's tokens are characters") from None
        cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        uniq, inv = np.unique(cps, return_inverse=True)
        lut = np.empty(len(uniq), dtype=np.int64)
        for i, cp in enumerate(uniq.tolist()):
            if cp not in self.index:
                raise KvgptError(f"data {source}: character {chr(cp)!r} is not in the checkpoint's vocabulary")
            lut[i] = self.index[cp]
        return lut[inv]

    def decode(self, ids):
        if self.kind == "byte":
            return bytes(int(i) for i in ids).decode("utf-8", errors="replace")
        return "".join(self.chars[int(i)] for i in ids)


def split(ids, block_size, source):
    """kvgpt's split (gpt.NewDataset): the last 10% of the tokens validate, the rest train."""
    n_val = int(len(ids) * VAL_FRACTION)
    train, val = ids[:len(ids) - n_val], ids[len(ids) - n_val:]
    if len(train) <= block_size or len(val) <= block_size:
        raise KvgptError(f"data {source} is too short for block size {block_size}: {len(train)} training and {len(val)} validation tokens")
    return train, val
