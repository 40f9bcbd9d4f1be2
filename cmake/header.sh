#!/usr/bin/env bash
# Regenerates include/flutter.h from src/ffi/ with the pinned cbindgen
# (installed from crates.io into target/tools on first use).
#   cmake/header.sh          rewrite include/flutter.h
#   cmake/header.sh --check  fail, showing the diff, when it is out of date
set -euo pipefail
cd "$(dirname "$0")/.."

CBINDGEN_VERSION=0.29.4
cbindgen=target/tools/bin/cbindgen
if ! "$cbindgen" --version 2>/dev/null | grep -qx "cbindgen $CBINDGEN_VERSION"; then
  echo "installing cbindgen $CBINDGEN_VERSION into target/tools" >&2
  cargo install cbindgen --version "$CBINDGEN_VERSION" --locked --root target/tools --quiet
fi

generate() {
  # The lua_State warning is expected: the header declares it (cbindgen.toml).
  "$cbindgen" --quiet --config cbindgen.toml --output "$1" src/ffi/mod.rs
}

if [ "${1:-}" = --check ]; then
  fresh=$(mktemp)
  trap 'rm -f "$fresh"' EXIT
  generate "$fresh"
  if ! diff -u include/flutter.h "$fresh"; then
    echo "include/flutter.h is out of date: run cmake/header.sh and commit the result" >&2
    exit 1
  fi
  echo "include/flutter.h is up to date"
else
  generate include/flutter.h
fi
