#!/usr/bin/env python3
"""Run llama.cpp's tokenizer test vectors through `vibrant tokenize`.

For every ggml-vocab-*.gguf with .inp/.out beside it (in the given directories, e.g. llama.cpp's
models/; default tests/data/vocab), each text goes to
`vibrant tokenize -m VOCAB --no-special -` on standard input and the printed ids are compared with
the .out line (llama.cpp, add_special = false, parse_special = false).

Usage: scripts/check-vocab.py [-v] [--bin target/release/vibrant] [DIR_OR_GGUF ...]
Exit status: 0 if every supported vocabulary passes every case, 1 otherwise.
"""
import argparse
import glob
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEP = "\n__ggml_vocab_test__\n"


def cases(gguf):
    with open(gguf + ".inp", encoding="utf-8", newline="") as f:
        texts = f.read().split(SEP)
    if texts and texts[-1] == "":
        texts.pop()
    with open(gguf + ".out", encoding="utf-8") as f:
        ids = [line.split() for line in f.read().split("\n")]
    if ids and ids[-1] == []:
        ids.pop()
    if len(texts) != len(ids):
        raise SystemExit(f"{gguf}: {len(texts)} texts but {len(ids)} id lines")
    return list(zip(texts, ids))


def tokenize(binary, gguf, text):
    p = subprocess.run([binary, "tokenize", "-m", gguf, "--no-special", "-"], input=text.encode("utf-8"),
                       capture_output=True)
    return p.returncode, p.stdout.decode("utf-8", "replace").split(), p.stderr.decode("utf-8", "replace").strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("paths", nargs="*")
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/release/vibrant"))
    ap.add_argument("-v", "--verbose", action="store_true", help="print every failing case")
    a = ap.parse_args()
    paths = a.paths or [os.path.join(ROOT, "tests/data/vocab")]
    files = []
    for p in paths:
        files += sorted(glob.glob(os.path.join(p, "ggml-vocab-*.gguf"))) if os.path.isdir(p) else [p]
    ok_all = True
    for gguf in files:
        name = os.path.basename(gguf)[len("ggml-vocab-"):-len(".gguf")]
        if not (os.path.exists(gguf + ".inp") and os.path.exists(gguf + ".out")):
            print(f"{name:20} no .inp/.out, skipped")
            continue
        cs = cases(gguf)
        passed, unsupported, fails = 0, None, []
        for text, want in cs:
            rc, got, err = tokenize(a.bin, gguf, text)
            if rc != 0:
                if "unsupported tokenizer model" in err or "unknown pre-tokenizer" in err:
                    unsupported = err
                    break
                fails.append((text, want, f"exit {rc}: {err}"))
            elif got == want:
                passed += 1
            else:
                fails.append((text, want, " ".join(got)))
        if unsupported:
            print(f"{name:20} unsupported: {unsupported}")
            continue
        ok_all &= not fails
        print(f"{name:20} {passed}/{len(cs)}")
        if a.verbose:
            for text, want, got in fails:
                print(f"    {text!r}\n      want {' '.join(want)}\n       got {got}")
    sys.exit(0 if ok_all else 1)


if __name__ == "__main__":
    main()
