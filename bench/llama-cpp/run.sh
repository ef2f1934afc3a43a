#!/bin/bash
# Synthesizes each SHAPE:TYPE model and times it side by side with llama.cpp (see README or docs/benchmarks.md).
# Usage: bash bench/llama-cpp/run.sh tinyllama-1.1b:q4_k tinyllama-1.1b:iq4_nl ...   (after npm install here)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tessera=${TESSERA_DLL:-$here/../../src/Tessera/bin/Release/net10.0/tessera.dll}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$here"
for spec in "$@"; do
  shape=${spec%%:*}; type=${spec##*:}
  file=$work/$shape-$type.gguf
  dotnet "$tessera" model synth --shape "$shape" --type "$type" --out "$file" > /dev/null
  node side-by-side.mjs --tessera "$tessera" --threads 2 --prefill 128 --decode 64 --rounds 3 "$file"
  rm -f "$file"
done
