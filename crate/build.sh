#!/usr/bin/env bash
# Builds wasm/netcrypt.wasm from this crate with Debian's Rust toolchain
# (rustc 1.63 + libstd-rust-dev-wasm32; rustup's toolchains here lack the
# wasm32 target). The output does not depend on where the repository is
# checked out, so CI can rebuild it and compare.
#
#   crate/build.sh          build and copy to wasm/netcrypt.wasm
#   crate/build.sh --check  build and fail unless it equals the committed file
set -euo pipefail

crate_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(dirname "$crate_dir")"
committed="$repo_dir/wasm/netcrypt.wasm"
rustc=/usr/bin/rustc
cargo=/usr/bin/cargo

case "${1:-}" in
  "") check=false ;;
  --check) check=true ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

for tool in "$rustc" "$cargo"; do
  if [[ ! -x "$tool" ]]; then
    echo "build.sh: $tool not found; install Debian's rustc, cargo and libstd-rust-dev-wasm32" >&2
    exit 1
  fi
done

# Cargo reads .cargo/config.toml (the simd128 flags) from the working
# directory, and any RUSTFLAGS in the environment would replace those flags.
cd "$crate_dir"
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS
export CARGO_TARGET_DIR="$crate_dir/target"
RUSTC="$rustc" "$cargo" rustc --release --locked --offline --lib --target wasm32-unknown-unknown \
  -- --remap-path-prefix="$crate_dir=netcrypt"
built="$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/netcrypt.wasm"

if $check; then
  if [[ ! -f "$committed" ]]; then
    echo "build.sh --check: $committed is missing; run crate/build.sh and commit it" >&2
    exit 1
  fi
  if ! cmp -s "$built" "$committed"; then
    echo "build.sh --check: wasm/netcrypt.wasm is stale: building crate/ with $("$rustc" --version) gives" >&2
    echo "  different bytes ($(sha256sum <"$built" | cut -c1-16)… vs committed $(sha256sum <"$committed" | cut -c1-16)…)." >&2
    echo "  Run crate/build.sh and commit wasm/netcrypt.wasm." >&2
    exit 1
  fi
  echo "wasm/netcrypt.wasm is up to date ($(wc -c <"$committed") bytes)"
else
  mkdir -p "$(dirname "$committed")"
  install -m 644 "$built" "$committed"
  echo "wrote wasm/netcrypt.wasm ($(wc -c <"$committed") bytes)"
fi
