#!/usr/bin/env python3
"""Dev-only: derive broken models (metadata of, and a tensor or none instead of the weights of) tests/data/models-tiny/tiny-llama-hd96-f16.gguf with the
`gguf` Python package (an implementation independent of ours), for the engine's bad-input
tests: an unknown architecture, a missing tensor, a mis-shaped tensor."""
import os, sys
import numpy as np
from gguf import GGUFReader, GGUFWriter, GGUFValueType

ROOT = os.path.join(os.path.dirname(__file__), "..")
SRC = os.path.join(ROOT, "tests/data/models-tiny/tiny-llama-hd96-f16.gguf")
OUT = os.path.join(ROOT, "tests/data/bad-models")

def copy(dst, arch="llama", tensors=()):
    r = GGUFReader(SRC)
    w = GGUFWriter(os.path.join(OUT, dst), arch)
    for name, f in r.fields.items():
        if name.startswith("GGUF.") or name.startswith("tokenizer.") or name == "general.architecture":
            continue
        key = name.replace("llama.", arch + ".") if name.startswith("llama.") else name
        vt = f.types[0]
        if vt == GGUFValueType.ARRAY:
            sub = f.types[-1]
            if sub == GGUFValueType.STRING:
                w.add_array(key, [bytes(f.parts[i]).decode("utf-8", "replace") for i in f.data])
            else:
                w.add_array(key, [f.parts[i][0].item() for i in f.data])
        elif vt == GGUFValueType.STRING:
            w.add_string(key, bytes(f.parts[f.data[0]]).decode())
        else:
            w.add_key_value(key, f.parts[f.data[0]][0].item(), vt)
    # Metadata only, plus the few tensors a case needs: the files stay a few KB.
    for name, arr in tensors:
        w.add_tensor(name, arr)
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()

os.makedirs(OUT, exist_ok=True)
copy("unknown-arch.gguf", arch="mamba9")
copy("missing-tensor.gguf")  # no tensors at all: the first one looked up is missing
copy("misshaped-tensor.gguf", tensors=[("token_embd.weight", np.zeros((16, 8), dtype=np.float32))])
print("ok")
