#!/bin/sh
# Builds the README example with pkg-config alone, shared and static, and
# checks both binaries start and refuse a bad address as they should.
set -eu
src=$1 out=$2 cc=$3
mkdir -p "$out"
libdir=$(pkg-config --variable=libdir flutter)
# Shared: the flags pkg-config gives, plus an rpath to the prefix.
"$cc" -Wall -Wextra -Wpedantic -Werror -o "$out/example-shared" "$src/readme_example.c" \
  $(pkg-config --cflags --libs flutter) -Wl,-rpath,"$libdir"
# Static: libflutter.a in place of -lflutter, with Libs.private.
"$cc" -Wall -Wextra -Wpedantic -Werror -o "$out/example-static" "$src/readme_example.c" \
  $(pkg-config --cflags flutter) \
  $(pkg-config --static --libs flutter | sed 's/-lflutter\b/-l:libflutter.a/')
if readelf -d "$out/example-static" | grep -q 'libflutter'; then
  echo "example-static depends on libflutter.so"; exit 1
fi
readelf -d "$out/example-shared" | grep -q 'NEEDED.*libflutter.so' || {
  echo "example-shared does not link libflutter.so"; exit 1; }
for kind in shared static; do
  if "$out/example-$kind" "not an address" /nonexistent.lua 2>"$out/err-$kind"; then
    echo "example-$kind accepted a bad address"; exit 1
  fi
  grep -q 'option listen' "$out/err-$kind" || { cat "$out/err-$kind"; exit 1; }
done
echo "pkg-config: shared and static builds work"
