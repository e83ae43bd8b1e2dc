#!/usr/bin/env python3
"""Copy a vocab-only GGUF (no tensors) with some string metadata set (dev only), to try
pre-tokenizers that have no test vocabulary against llama-tokenize, e.g.:
  scripts/respin-vocab.py ggml-vocab-qwen2.gguf /tmp/laguna.gguf tokenizer.ggml.pre=laguna
"""
import struct
import sys

SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def skip_value(b, at, t):
    if t in SIZES:
        return at + SIZES[t]
    if t == 8:
        (n,) = struct.unpack_from("<Q", b, at)
        return at + 8 + n
    if t == 9:
        et, n = struct.unpack_from("<IQ", b, at)
        at += 12
        if et in SIZES:
            return at + SIZES[et] * n
        for _ in range(n):
            at = skip_value(b, at, et)
        return at
    raise ValueError(f"type {t}")


def string(s):
    e = s.encode()
    return struct.pack("<Q", len(e)) + e


def main():
    src, dst, *sets = sys.argv[1:]
    b = open(src, "rb").read()
    magic, version, n_tensors, n_kv = struct.unpack_from("<4sIQQ", b, 0)
    assert magic == b"GGUF" and n_tensors == 0
    at = 24
    kvs = []
    for _ in range(n_kv):
        (klen,) = struct.unpack_from("<Q", b, at)
        key = b[at + 8:at + 8 + klen].decode()
        (t,) = struct.unpack_from("<I", b, at + 8 + klen)
        end = skip_value(b, at + 12 + klen, t)
        kvs.append((key, b[at:end]))
        at = end
    new = dict(s.split("=", 1) for s in sets)
    out = []
    for key, raw in kvs:
        if key in new:
            raw = string(key) + struct.pack("<I", 8) + string(new.pop(key))
        out.append(raw)
    for key, v in new.items():
        out.append(string(key) + struct.pack("<I", 8) + string(v))
    body = struct.pack("<4sIQQ", b"GGUF", version, 0, len(out)) + b"".join(out)
    body += b"\0" * (-len(body) % 32)
    open(dst, "wb").write(body)


if __name__ == "__main__":
    main()
