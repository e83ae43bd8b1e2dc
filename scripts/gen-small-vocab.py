#!/usr/bin/env python3
"""Cut a vocab-only GGUF down to a few thousand tokens and record llama.cpp's tokenization of
the original .inp texts with it (dev only; how the *-small vocabularies in tests/data/vocab were
made).

Kept, in their original order (so renumbered): the first N tokens (special and byte tokens),
every token of the original .out, the tokens their merges are built from (recursively), and the
one-character tokens below U+0800; with their scores and types, the merges whose two parts and
result are all kept, and every other metadata key except the chat template (token-id keys
renumbered). The .out is written by llama.cpp's llama-tokenize (add_special = false,
parse_special = false), so the test vectors are llama.cpp's own answers for the smaller vocabulary.

Usage: scripts/gen-small-vocab.py SRC.gguf N OUT.gguf [--llama PATH/llama-tokenize]
(SRC.gguf.inp / .out are read; the .inp is copied to OUT.gguf.inp)
"""
import argparse
import shutil
import subprocess

from gguf import GGUFReader, GGUFValueType, GGUFWriter

SEP = "\n__ggml_vocab_test__\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("n", type=int)
    ap.add_argument("out")
    ap.add_argument("--llama", default="llama-tokenize")
    a = ap.parse_args()
    r = GGUFReader(a.src)
    arch = r.fields["general.architecture"].contents()
    w = GGUFWriter(a.out, arch)
    all_tokens = r.fields["tokenizer.ggml.tokens"].contents()
    merges = r.fields["tokenizer.ggml.merges"].contents() if "tokenizer.ggml.merges" in r.fields else []
    split = lambda m: (m[0] + m[1:].split(" ", 1)[0], m[1:].split(" ", 1)[1])
    made_of = {}
    for m in merges:
        if " " in m[1:]:
            x, y = split(m)
            made_of.setdefault(x + y, (x, y))
    keep = set(range(min(a.n, len(all_tokens))))
    used = {int(i) for line in open(a.src + ".out") for i in line.split()}
    index = {t: i for i, t in enumerate(all_tokens)}
    todo = [all_tokens[i] for i in used]
    while todo:
        t = todo.pop()
        if t in index and index[t] not in keep or t not in index:
            if t in index:
                keep.add(index[t])
            todo.extend(made_of.get(t, ()))
    keep |= {i for i, t in enumerate(all_tokens) if len(t) == 1 and ord(t) < 0x800}
    order = sorted(keep)
    new_id = {old: new for new, old in enumerate(order)}
    tokens = [all_tokens[i] for i in order]
    kept = set(tokens)
    for key, f in r.fields.items():
        if key.startswith("GGUF.") or key in ("general.architecture", "tokenizer.chat_template"):
            continue
        t = f.types[0]
        v = f.contents()
        if key == "tokenizer.ggml.tokens":
            v = tokens
        elif key in ("tokenizer.ggml.scores", "tokenizer.ggml.token_type"):
            v = [v[i] for i in order]
        elif key == "tokenizer.ggml.merges":
            v = [m for m in v if " " in m[1:] and (lambda x, y: x in kept and y in kept and x + y in kept)(*split(m))]
        elif key.endswith("_token_id"):
            if v not in new_id:
                continue
            v = new_id[v]
        if t == GGUFValueType.ARRAY:
            w.add_key_value(key, list(v), t, sub_type=f.types[1])
        else:
            w.add_key_value(key, v, t)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.close()
    shutil.copy(a.src + ".inp", a.out + ".inp")
    texts = open(a.src + ".inp", encoding="utf-8", newline="").read().split(SEP)
    if texts[-1] == "":
        texts.pop()
    lines = []
    for t in texts:
        p = subprocess.run([a.llama, "-m", a.out, "--stdin", "--ids", "--log-disable", "--no-bos",
                            "--no-parse-special", "--no-escape"], input=t.encode(), capture_output=True, check=True)
        lines.append(" ".join(p.stdout.decode().strip().strip("[]").replace(",", " ").split()))
    with open(a.out + ".out", "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
