"""kvgpt's data in Python: tokenizers, the 90/10 split, token files and dataset directories
(kvgpt prepare's, llm.c's and nanoGPT's, memory-mapped), the fixed validation batches and the
seeded batch order, each the same as kvgpt's gpt and tokens packages compute it (gpt/data.go,
gpt/source.go, gpt/train.go, tokens/).

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


GPT2_VOCAB_SIZE = 50257


class Tokenizer:
    """A checkpoint's tokenizer: "byte" (token i is byte i), "char" (token i is the i-th
    character of the vocabulary the checkpoint records), or a BPE vocabulary, "gpt2" or "bpe:N",
    whose tokens Python reads from token files only (kvgpt prepare makes them from text)."""

    def __init__(self, kind, chars="", bpe=""):
        self.kind, self.chars, self.bpe = kind, chars, bpe
        if kind == "gpt2":
            self.size = GPT2_VOCAB_SIZE
        elif kind.startswith("bpe:") and kind[4:].isdigit():
            self.size = int(kind[4:])
        elif kind == "byte":
            self.size = 256
        elif kind == "char":
            if len(set(chars)) != len(chars) or len(chars) < 2:
                raise KvgptError("checkpoint's character vocabulary repeats a character or has fewer than 2")
            self.index = {ord(c): i for i, c in enumerate(chars)}
            self.size = len(chars)
        else:
            raise KvgptError(f"checkpoint names no known tokenizer ({kind!r}; want byte, char, gpt2 or bpe:N)")

    @classmethod
    def from_meta(cls, meta):
        """The tokenizer recorded in checkpoint metadata (gpt.TokenizerMeta)."""
        return cls(meta.get("tokenizer", ""), meta.get("chars", ""), meta.get("bpe", ""))

    def meta(self):
        """The metadata that records the tokenizer (gpt.TokenizerMeta)."""
        m = {"tokenizer": self.kind}
        if self.kind == "char":
            m["chars"] = self.chars
        if self.kind.startswith("bpe:"):
            m["bpe"] = self.bpe
        return m

    @property
    def vocab_size(self):
        return self.size

    def encode_file(self, raw, source):
        """Token ids (int64) of the bytes raw of a data file named source."""
        if self.kind not in ("byte", "char"):
            raise KvgptError(f"data {source}: Python does not tokenize {self.kind} text: tokenize it with "
                             f"kvgpt prepare --data {source} --out DIR and pass DIR")
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


# llm.c's token files: a header of 256 little-endian int32s (magic, version, token count), then
# the tokens (tokens/shard.go).
HEADER_INTS = 256
MAGIC_U16, VERSION_U16 = 20240520, 1
MAGIC_U32, VERSION_U32 = 20240801, 7
META_FILE = "kvgpt-data.json"


def open_token_file(path):
    """The tokens of an llm.c token file, or of a headerless nanoGPT .bin file (uint16), as a
    read-only numpy memmap."""
    import os
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = np.frombuffer(f.read(4 * HEADER_INTS), dtype="<i4")
    if len(head) == HEADER_INTS and head[0] in (MAGIC_U16, MAGIC_U32):
        magic, version, n = int(head[0]), int(head[1]), int(head[2])
        dtype = {(MAGIC_U16, VERSION_U16): "<u2", (MAGIC_U32, VERSION_U32): "<u4"}.get((magic, version))
        if dtype is None:
            raise KvgptError(f"{path}: magic {magic} with version {version} is not an llm.c token file kvgpt reads")
        if size != 4 * HEADER_INTS + n * np.dtype(dtype).itemsize:
            raise KvgptError(f"{path} is {size} bytes, but its header counts {n} tokens: truncated or damaged")
        return np.memmap(path, dtype=dtype, mode="r", offset=4 * HEADER_INTS, shape=(n,)) if n else np.zeros(0, np.uint16)
    if not path.endswith(".bin") or size % 2:
        raise KvgptError(f"{path} is neither an llm.c token file nor a nanoGPT .bin file of uint16 tokens")
    return np.memmap(path, dtype="<u2", mode="r") if size else np.zeros(0, np.uint16)


class TokenSeq:
    """Token files concatenated, read where indexed (tokens.Seq): len() tokens, and seq[ix] for an
    integer array ix returns those tokens as int64, reading only their pages."""

    def __init__(self, parts):
        self.parts = [p for p in parts if len(p)]
        self.starts = np.cumsum([0] + [len(p) for p in self.parts])

    def __len__(self):
        return int(self.starts[-1])

    def __getitem__(self, ix):
        ix = np.asarray(ix, dtype=np.int64)
        if ix.size and (ix.min() < 0 or ix.max() >= len(self)):
            raise IndexError(f"token index out of range [0, {len(self)})")
        out = np.empty(ix.shape, dtype=np.int64)
        which = np.searchsorted(self.starts, ix, side="right") - 1
        for k, part in enumerate(self.parts):
            sel = which == k
            if sel.any():
                out[sel] = part[ix[sel] - self.starts[k]]
        return out

    def slice(self, off, n):
        """The tokens [off, off+n) as a TokenSeq (no copy)."""
        parts = []
        for k, part in enumerate(self.parts):
            lo, hi = max(off - self.starts[k], 0), min(off + n - self.starts[k], len(part))
            if lo < hi:
                parts.append(part[lo:hi])
        return TokenSeq(parts)


def open_dataset(path):
    """The training and validation tokens of a dataset directory or a token file, memory-mapped,
    and the tokenizer metadata its description records (None where it has none): as kvgpt's
    gpt.LoadData reads them. A token file alone splits 90/10 by tokens."""
    import glob
    import json
    import os
    if os.path.isdir(path):
        meta_path = os.path.join(path, META_FILE)
        if os.path.exists(meta_path):
            with open(meta_path) as f:
                meta = json.load(f)
            files = {s: meta["splits"][s]["files"] for s in ("train", "val")}
            tok = meta.get("tokenizer")
        else:
            names = sorted(os.path.basename(p) for p in glob.glob(os.path.join(path, "*.bin")) if not os.path.basename(p).startswith("."))
            files = {"train": [n for n in names if "train" in n], "val": [n for n in names if "train" not in n and "val" in n]}
            if not files["train"] or not files["val"]:
                raise KvgptError(f"{path} has no {META_FILE} and no *train*.bin and *val*.bin token files")
            tok = None
        train, val = (TokenSeq([open_token_file(os.path.join(path, n)) for n in files[s]]) for s in ("train", "val"))
        return train, val, tok
    seq = TokenSeq([open_token_file(path)])
    n_val = int(len(seq) * VAL_FRACTION)
    return seq.slice(0, len(seq) - n_val), seq.slice(len(seq) - n_val, n_val), None
