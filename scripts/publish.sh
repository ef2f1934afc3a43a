#!/usr/bin/env bash
# Builds tessera as self-contained single-file executables, one per runtime identifier (RID); nothing else is needed
# on the machines they run on (no .NET, no SQLite).
#
#   scripts/publish.sh                          linux-x64 linux-arm64 win-x64 osx-arm64
#   scripts/publish.sh linux-x64 linux-arm64    only these
#   scripts/publish.sh --out DIR --no-compress linux-x64
#
# Each lands in DIR (default artifacts/release) as tessera-VERSION-RID (tessera-VERSION-RID.exe on Windows), with
# SHA256SUMS beside them. The build itself goes to artifacts/publish, apart from bin/ and obj/, so a publish never
# rewrites the assemblies a test run or `dotnet run` is using.
#
# The version is VersionPrefix in Directory.Build.props, the one place it is set; when HEAD carries a tag vX.Y.Z the
# two must agree. The commit `tessera version` prints comes from git (Source Link); outside a checkout set
# SOURCE_REVISION_ID (the Dockerfile does), else the version says the commit is unknown. docs/install.md has the rest.
set -euo pipefail
cd "$(dirname "$0")/.."

out=artifacts/release
compress=true
rids=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --out=*) out="${1#--out=}"; shift ;;
    --no-compress) compress=false; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "publish.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) rids+=("$1"); shift ;;
  esac
done
[ ${#rids[@]} -gt 0 ] || rids=(linux-x64 linux-arm64 win-x64 osx-arm64)

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

version=$(dotnet msbuild src/Tessera/Tessera.csproj -getProperty:Version)
if tag=$(git describe --tags --exact-match --match 'v[0-9]*' HEAD 2>/dev/null) && [ "$tag" != "v$version" ]; then
  echo "publish.sh: HEAD is tagged $tag but Directory.Build.props says $version; make them agree (docs/install.md, Releasing)." >&2
  exit 2
fi

extra=()
[ -n "${SOURCE_REVISION_ID:-}" ] && extra+=("-p:SourceRevisionId=$SOURCE_REVISION_ID")

mkdir -p "$out"
built=(); failed=()
for rid in "${rids[@]}"; do
  name="tessera-$version-$rid"
  exe=tessera; [[ "$rid" == win-* ]] && { exe=tessera.exe; name="$name.exe"; }
  dir="artifacts/publish/$rid"
  rm -rf "$dir"
  echo "== $rid"
  # IncludeNativeLibrariesForSelfExtract: SQLite's native library rides inside the file and is unpacked at start into
  # DOTNET_BUNDLE_EXTRACT_BASE_DIR (default ~/.net). DebugType=embedded: stack traces keep their line numbers.
  if dotnet publish src/Tessera/Tessera.csproj -c Release -r "$rid" --self-contained \
      --artifacts-path artifacts/publish/build -o "$dir" \
      -p:PublishSingleFile=true -p:IncludeNativeLibrariesForSelfExtract=true \
      -p:EnableCompressionInSingleFile=$compress -p:DebugType=embedded \
      ${extra[@]+"${extra[@]}"} -v:quiet -nologo \
    && [ -f "$dir/$exe" ]; then
    cp "$dir/$exe" "$out/$name"
    chmod +x "$out/$name"
    built+=("$rid")
  else
    failed+=("$rid")
  fi
done

if [ ${#built[@]} -gt 0 ]; then
  (cd "$out" && for rid in "${built[@]}"; do ls tessera-"$version-$rid"*; done | xargs sha256sum > SHA256SUMS)
  echo
  (cd "$out" && ls -l --block-size=M $(cut -d' ' -f3- SHA256SUMS) && echo "checksums: $out/SHA256SUMS")
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "publish.sh: could not build ${failed[*]} (see the errors above)" >&2
  exit 1
fi
