#!/usr/bin/env bash
# The GPU device check (issue 17), in two halves:
#
#   bench/gpu-check.sh prepare   # here: the .NET runtime and a published tessera into .device/ (carried to the GPU machine)
#   bench/gpu-check.sh remote    # on the GPU machine (the device tool's run, carry [".device"]), figures into $OUT
#
# The run command is:  bash bench/gpu-check.sh remote
# It prints nvidia-smi, the GPUs tessera sees, `tessera gpu check` (every kernel against the CPU engine, on CUDA),
# and `tessera gpu bench` (copy bandwidth, then each decode product's
# weight bytes per second against it) for TinyLlama-1.1B and Llama-7B layer shapes in Q4_0, Q8_0 and F16, as text and
# JSON under $OUT. Bounded: each bench has a timeout, the whole check stays under 8 minutes.
set -uo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
  prepare)
    grep -qx '/.device/' .git/info/exclude 2>/dev/null || echo /.device/ >> .git/info/exclude
    mkdir -p .device
    root=$(dirname "$(readlink -f "$(command -v dotnet)")")
    tar -cJf .device/dotnet-rt.tar.xz -C "$root" dotnet host shared/Microsoft.NETCore.App shared/Microsoft.AspNetCore.App
    rm -rf .device/app
    # linux-x64 only: the other platforms' native libraries would not fit the 64 MiB that travels.
    dotnet publish src/Tessera -c Release -r linux-x64 --self-contained false -o .device/app >/dev/null
    du -sh .device
    ;;
  remote)
    out=${OUT:-/tmp/gpu-check}
    mkdir -p "$out" /tmp/dn
    tar -xJf .device/dotnet-rt.tar.xz -C /tmp/dn
    export DOTNET_ROOT=/tmp/dn PATH=/tmp/dn:$PATH DOTNET_CLI_TELEMETRY_OPTOUT=1
    t=".device/app/tessera.dll"
    nvidia-smi 2>&1 | tee "$out/nvidia-smi.txt"
    timeout 60 dotnet "$t" gpu list 2>&1 | tee "$out/gpu-list.txt"
    timeout 120 dotnet "$t" gpu check --device cuda:0 2>&1 | tee "$out/gpu-check.txt"
    for shape in tinyllama 7b; do
      timeout 150 dotnet "$t" gpu bench --device cuda:0 --shape "$shape" --types Q4_0,Q8_0,F16 --runs 20 2>&1 | tee "$out/gpu-bench-$shape.txt"
      timeout 150 dotnet "$t" gpu bench --device cuda:0 --shape "$shape" --types Q4_0,Q8_0,F16 --runs 20 --output json > "$out/gpu-bench-$shape.json" 2>&1
    done
    ;;
  *)
    echo "usage: bench/gpu-check.sh prepare|remote" >&2
    exit 2
    ;;
esac
