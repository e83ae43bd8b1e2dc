#!/usr/bin/env python3
"""Dev-only: check `vibrant inspect --json` against the PyPI `gguf` package's GGUFReader, an
implementation independent of ours.

    pip install gguf            # dev-only; not a build or test dependency
    cargo build --release -p vibrant
    scripts/check-inspect.py [MODEL.gguf ...]   # default: the three models in models/

For every file: the version, every metadata key (same keys, same order) and value (integers,
strings and bools exactly, f32 compared as f32, f64 exactly, arrays element by element), and
every tensor's name, type, shape (ggml order, ne0 first) and offset (from the data section).
Exits non-zero on the first file that differs. `VIBRANT_BIN` overrides the binary's path.
"""
import json, math, os, subprocess, sys
import numpy as np
from gguf import GGUFReader, GGUFValueType

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
DEFAULT_MODELS = [
    "models/SmolLM2-135M-Instruct.Q4_1.gguf",
    "models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    "models/gemma-3-270m-q4_k_m.gguf",
]
BIN = os.environ.get("VIBRANT_BIN", os.path.join(ROOT, "target/release/vibrant"))


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError(f"duplicate JSON keys: {keys}")
    return pairs  # a list of pairs: keeps the order to compare


def same_scalar(vt, ours, theirs):
    if vt == GGUFValueType.FLOAT32:
        if ours is None:  # JSON has no NaN or infinity
            return not math.isfinite(theirs)
        return isinstance(ours, (int, float)) and np.float32(ours) == np.float32(theirs)
    if vt == GGUFValueType.FLOAT64:
        return isinstance(ours, (int, float)) and float(ours) == float(theirs)
    if vt == GGUFValueType.BOOL:
        return ours is bool(theirs)
    if vt == GGUFValueType.STRING:
        return ours == theirs
    return isinstance(ours, int) and not isinstance(ours, bool) and ours == theirs


def check_field(key, field, ours):
    """None if `ours` (from our JSON) equals the field as GGUFReader read it, else a message."""
    vt = field.types[0]
    theirs = field.contents()
    if vt != GGUFValueType.ARRAY:
        return None if same_scalar(vt, ours, theirs) else f"{key}: ours {ours!r}, gguf-py {theirs!r}"
    if len(field.types) != 2:
        return f"{key}: nested arrays are not compared (types {field.types})"
    et = field.types[1]
    if not isinstance(ours, list) or len(ours) != len(theirs):
        n = len(ours) if isinstance(ours, list) else type(ours).__name__
        return f"{key}: ours has {n} elements, gguf-py {len(theirs)}"
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if not same_scalar(et, a, b):
            return f"{key}[{i}]: ours {a!r}, gguf-py {b!r}"
    return None


def check(path):
    run = subprocess.run([BIN, "inspect", "--json", path], capture_output=True)
    if run.returncode != 0:
        return [f"vibrant inspect exited {run.returncode}: {run.stderr.decode(errors='replace').strip()}"]
    doc = dict(json.loads(run.stdout, object_pairs_hook=no_duplicates))
    if [k for k, _ in json.loads(run.stdout, object_pairs_hook=lambda p: p)] != ["version", "metadata", "tensors"]:
        return ["top-level keys are not exactly version, metadata, tensors"]
    r = GGUFReader(path)
    errors = []
    version = int(r.fields["GGUF.version"].contents())
    if doc["version"] != version:
        errors.append(f"version: ours {doc['version']}, gguf-py {version}")

    fields = [(k, f) for k, f in r.fields.items() if not k.startswith("GGUF.")]
    ours_meta = doc["metadata"]
    if [k for k, _ in ours_meta] != [k for k, _ in fields]:
        errors.append(f"metadata keys differ: ours {[k for k, _ in ours_meta]}, gguf-py {[k for k, _ in fields]}")
    else:
        for (key, field), (_, ours) in zip(fields, ours_meta):
            msg = check_field(key, field, ours)
            if msg:
                errors.append(msg)

    ours_t = [dict(t) for t in doc["tensors"]]
    if len(ours_t) != len(r.tensors):
        errors.append(f"tensor count: ours {len(ours_t)}, gguf-py {len(r.tensors)}")
    for o, t in zip(ours_t, r.tensors):
        want = {
            "name": t.name,
            "type": t.tensor_type.name,
            "shape": [int(d) for d in t.shape],
            "offset": int(t.data_offset - r.data_offset),
        }
        if set(o) != set(want):
            errors.append(f"tensor {t.name}: keys {sorted(o)}, expected {sorted(want)}")
        for k, v in want.items():
            if o.get(k) != v:
                errors.append(f"tensor {t.name}: {k} ours {o.get(k)!r}, gguf-py {v!r}")
    if not errors:
        n_values = sum(len(f.data) if f.types[0] == GGUFValueType.ARRAY else 1 for _, f in fields)
        print(f"ok  {path}: v{version}, {len(fields)} keys ({n_values} values), {len(r.tensors)} tensors match")
    return errors


def main():
    paths = sys.argv[1:] or [os.path.join(ROOT, m) for m in DEFAULT_MODELS]
    failed = 0
    for p in paths:
        errors = check(p)
        if errors:
            failed += 1
            print(f"FAIL {p}: {len(errors)} differences")
            for e in errors[:20]:
                print("    " + e)
    print(f"{len(paths) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
