"""Reading and writing kvgpt checkpoints (gpt/checkpoint.go) without a safetensors package.

A checkpoint is one safetensors file: an 8-byte little-endian header length, a JSON header
(padded with spaces to a multiple of 8 bytes), then the raw little-endian data. The header maps
each tensor name to {"dtype", "shape", "data_offsets": [begin, end)} in the data section, and
"__metadata__" to strings: format ("kvgpt-checkpoint-2"), config and train_config (JSON of
gpt.Config and gpt.TrainConfig), step, batch_seed, the tokenizer ("tokenizer", "chars") and the
run's data ("data", "data_path", "corpus_bytes"). The tensors are the parameters under nanoGPT's
names and the AdamW moments as two flat tensors, optimizer.exp_avg and optimizer.exp_avg_sq (P),
in kvgpt's parameter slab order (model.slab_layout), all F32, and last checksum.crc32c (U8, 4
bytes): the CRC-32C (Castagnoli, little-endian) of every byte of the file before it. Files of the
first format ("kvgpt-checkpoint-1": no checksum tensor, metadata crc32 the decimal CRC-32C of the
data section alone) are read too.

write() keeps every metadata string it is given, so `kvgpt train --resume` and `kvgpt sample` read
a checkpoint written here as one of their own.
"""

import json
import os
import stat
import struct
import tempfile

import numpy as np

from . import KvgptError
from .model import GPTConfig, slab_layout

FORMAT, FORMAT1 = "kvgpt-checkpoint-2", "kvgpt-checkpoint-1"
EXP_AVG, EXP_AVG_SQ, CHECKSUM = "optimizer.exp_avg", "optimizer.exp_avg_sq", "checksum.crc32c"
MAX_HEADER = 100 << 20  # as kvgpt's reader


def _crc_table():
    poly, table = 0x82F63B78, []  # Castagnoli, reflected
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return np.array(table, dtype=np.uint32)


_TABLE = _crc_table()


def _crc_raw(reg, data):
    """Runs the reflected CRC register reg over the bytes data, one at a time (for short data)."""
    t = _TABLE
    for b in data:
        reg = int(t[(reg ^ b) & 0xFF]) ^ (reg >> 8)
    return reg


def crc32c(data):
    """CRC-32C (Castagnoli) of data, as Go's crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)).

    A byte-at-a-time loop in Python would take seconds per megabyte, so the data is cut into K
    chunks of L bytes that numpy runs side by side from a zero register, together with the 32 unit
    registers run over L zero bytes. A CRC register is linear in (register, data): running r over
    chunk c gives Z(r) ⊕ run(0, c), where Z, running over L zero bytes, is the 32 × 32 bit matrix
    whose columns the unit registers gave. The chunks are then chained with Z, and the tail
    (fewer than L bytes) byte by byte."""
    data = memoryview(data).cast("B")
    n = len(data)
    reg = 0xFFFFFFFF
    if n < 1 << 16:
        return _crc_raw(reg, bytes(data)) ^ 0xFFFFFFFF
    K = min(1 << 14, n >> 8)
    L = n // K
    chunks = np.frombuffer(data, dtype=np.uint8, count=K * L).reshape(K, L)
    regs = np.zeros(K + 32, dtype=np.uint32)  # K chunk registers, then the 32 unit registers
    regs[K:] = np.left_shift(np.uint32(1), np.arange(32, dtype=np.uint32))
    col = np.zeros(K + 32, dtype=np.uint32)
    for j in range(L):
        col[:K] = chunks[:, j]
        regs = _TABLE[(regs ^ col) & 0xFF] ^ (regs >> 8)
    zcols = [int(x) for x in regs[K:]]

    def zeros(r):  # Z(r): r run over L zero bytes
        out, i = 0, 0
        while r:
            if r & 1:
                out ^= zcols[i]
            r >>= 1
            i += 1
        return out

    for c in regs[:K].tolist():
        reg = zeros(reg) ^ c
    return _crc_raw(reg, bytes(data[K * L:])) ^ 0xFFFFFFFF


class Checkpoint:
    """A kvgpt checkpoint in memory: config (GPTConfig), train (the gpt.TrainConfig JSON object),
    step, meta (every metadata string) and tensors (name → float32 numpy array of its shape)."""

    def __init__(self, config, train, step, meta, tensors):
        self.config, self.train, self.step, self.meta, self.tensors = config, train, step, meta, tensors

    def params(self):
        """The parameters, name → float32 array, in kvgpt's order."""
        return {name: self.tensors[name] for name, _, _ in slab_layout(self.config)}

    def moments(self):
        """The AdamW moments per parameter, name → (exp_avg, exp_avg_sq), cut out of the flat
        slabs; a KvgptError if the checkpoint has none (it cannot resume training)."""
        P = self.config.num_params()
        flat = []
        for k in (EXP_AVG, EXP_AVG_SQ):
            t = self.tensors.get(k)
            if t is None or t.size != P:
                raise KvgptError(f"checkpoint has no optimizer state {k} of {P} elements; it cannot resume training")
            flat.append(t.reshape(-1))
        return {name: tuple(f[off:off + int(np.prod(shape))].reshape(shape) for f in flat)
                for name, shape, off in slab_layout(self.config)}


def read(path):
    """Reads and checks the checkpoint at path: kind, size, structure, offsets, CRC, format, config,
    step and every parameter's shape. Raises KvgptError naming the file and the problem. Only a
    regular file is read, and only once its size is the one its header declares (a device, or a
    file with gigabytes appended, is refused before its data is read)."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise KvgptError(f"checkpoint {path} is not a regular file")
        with open(path, "rb") as f:
            head = f.read(8)
            hl = struct.unpack("<Q", head)[0] if len(head) == 8 else 0
            header = f.read(hl) if 8 + hl <= st.st_size and hl <= MAX_HEADER else b""
            declared = _declared_size(header)
            if declared is not None and 8 + hl + declared != st.st_size:
                raise KvgptError(f"checkpoint {path} is damaged or not a kvgpt checkpoint: the file is {st.st_size} bytes, "
                                 f"its header declares {8 + hl + declared}: truncated, or bytes appended")
            raw = head + header + f.read()
    except FileNotFoundError:
        raise KvgptError(f"checkpoint {path} does not exist") from None
    except OSError as e:
        raise KvgptError(f"checkpoint {path}: {e.strerror}") from None
    try:
        return _parse(raw)
    except KvgptError as e:
        raise KvgptError(f"checkpoint {path} is damaged or not a kvgpt checkpoint: {e}") from None


def _declared_size(header):
    """The size of the data section that a header declares (the end of its last tensor), or None if
    it does not parse (then _parse reports why)."""
    try:
        h = json.loads(header)
        return max(int(e["data_offsets"][1]) for k, e in h.items() if k != "__metadata__")
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None


def _parse(raw):
    if len(raw) < 8:
        raise KvgptError(f"file is {len(raw)} bytes, shorter than the 8-byte header length")
    (hl,) = struct.unpack("<Q", raw[:8])
    if hl > len(raw) - 8 or hl > MAX_HEADER:
        raise KvgptError(f"header length {hl} exceeds the file ({len(raw)} bytes): truncated?")
    try:
        header = json.loads(raw[8:8 + hl])
    except ValueError as e:
        raise KvgptError(f"header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise KvgptError("header is not a JSON object")
    meta = header.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise KvgptError("metadata is not a map of strings")
    fmt = meta.get("format")
    if fmt not in (FORMAT, FORMAT1):
        raise KvgptError(f"metadata format is {fmt!r}, want {FORMAT!r} (or the older {FORMAT1!r})")
    try:
        cfg_json, train = json.loads(meta.get("config", "")), json.loads(meta.get("train_config", ""))
    except ValueError as e:
        raise KvgptError(f"metadata config or train_config is not JSON: {e}") from None
    cfg = GPTConfig.from_kvgpt(cfg_json)
    if not isinstance(train, dict):
        raise KvgptError("metadata train_config is not a JSON object")
    step = meta.get("step", "")
    if not step.isdigit():
        raise KvgptError(f"metadata step {step!r} is not a step count")
    data = memoryview(raw)[8 + hl:]
    if fmt == FORMAT:
        e = header.get(CHECKSUM)
        if not isinstance(e, dict) or e.get("dtype") != "U8" or e.get("shape") != [4] or e.get("data_offsets") != [len(data) - 4, len(data)]:
            raise KvgptError(f"tensor {CHECKSUM} is missing or is not the file's last 4 bytes")
        del header[CHECKSUM]
        (want,) = struct.unpack("<I", raw[-4:])
        got = crc32c(memoryview(raw)[:-4])
        if got != want:
            raise KvgptError(f"checksum {got:08x} of the file does not match the {want:08x} it records: the file is corrupted")
        data = data[:-4]
    spans = []
    for name, e in header.items():
        try:
            (b, end), shape, dtype = e["data_offsets"], [int(d) for d in e["shape"]], e["dtype"]
        except (KeyError, TypeError, ValueError):
            raise KvgptError(f"tensor {name} is not a safetensors entry (dtype, shape, data_offsets)") from None
        if dtype != "F32":
            raise KvgptError(f"tensor {name} has dtype {dtype}, want F32")
        spans.append((b, end, name, shape))
    spans.sort()
    pos = 0
    for b, end, name, shape in spans:
        if b != pos or end < b or end > len(data) or end - b != 4 * int(np.prod(shape, dtype=np.int64)) or min(shape, default=0) < 0:
            raise KvgptError(f"tensor {name}: data offsets [{b}, {end}) do not fit shape {shape} after offset {pos}")
        pos = end
    if pos != len(data):
        raise KvgptError(f"data section is {len(data)} bytes, the header describes {pos}: truncated?")
    if fmt == FORMAT1:
        want = meta.get("crc32", "")
        if not want.isdigit():
            raise KvgptError(f"metadata crc32 {want!r} is not a checksum")
        got = crc32c(data)
        if got != int(want):
            raise KvgptError(f"data checksum {got} does not match {want}: the file is corrupted")
    tensors = {name: np.frombuffer(data[b:end], dtype="<f4").reshape(shape).astype(np.float32)
               for b, end, name, shape in spans}
    names = {name for name, _, _ in slab_layout(cfg)}
    for name in tensors:
        if name not in names and name not in (EXP_AVG, EXP_AVG_SQ):
            raise KvgptError(f"tensor {name} is not one of a {fmt} checkpoint of its configuration")
    for name, shape, _ in slab_layout(cfg):
        if name not in tensors:
            raise KvgptError(f"tensor {name} is missing")
        if tuple(tensors[name].shape) != tuple(shape):
            raise KvgptError(f"tensor {name} has shape {list(tensors[name].shape)}, the config says {list(shape)}")
    return Checkpoint(cfg, train, int(step), meta, tensors)


def encode(ck):
    """Returns the bytes of ck as a kvgpt checkpoint: the parameters in kvgpt's order, then the
    two moment slabs and the checksum, metadata with format, step and train_config updated from ck
    (and the crc32 of the first format dropped)."""
    P = ck.config.num_params()
    names = [name for name, _, _ in slab_layout(ck.config)] + [EXP_AVG, EXP_AVG_SQ]
    header, blobs, off = {}, [], 0
    for name in names:
        t = np.ascontiguousarray(ck.tensors[name], dtype="<f4")
        if name in (EXP_AVG, EXP_AVG_SQ) and t.size != P:
            raise KvgptError(f"{name} has {t.size} elements, the model {P}")
        b = t.tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header[CHECKSUM] = {"dtype": "U8", "shape": [4], "data_offsets": [off, off + 4]}
    meta = dict(ck.meta)
    meta.pop("crc32", None)
    meta.update(format=FORMAT, config=json.dumps(ck.config.to_kvgpt()), train_config=json.dumps(ck.train),
                step=str(ck.step))
    header["__metadata__"] = meta
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)  # align the data section to 8 bytes, as kvgpt and safetensors do
    raw = struct.pack("<Q", len(h)) + h + b"".join(blobs)
    return raw + struct.pack("<I", crc32c(raw))


def write(path, ck):
    """Writes ck to path atomically: into a temporary file in the same directory (named as kvgpt's
    internal/atomicfile names its own, so kvgpt removes one left by a crash), fsync, rename over
    path, fsync of the directory. A failure leaves the file at path as it was."""
    raw = encode(ck)
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix="." + os.path.basename(path) + ".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            os.fchmod(f.fileno(), 0o644)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:
        dfd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass  # some file systems cannot sync a directory; the rename itself is done
