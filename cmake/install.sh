#!/usr/bin/env bash
# Builds flutter's C library and installs it into PREFIX:
#   lib/libflutter.so.X.Y.Z (+ SONAME and dev links), lib/libflutter.a
#   include/flutter.h, include/flutter/lua/{lua,luaconf,lualib,lauxlib}.h
#   lib/cmake/flutter/flutterConfig.cmake (+ version file), lib/pkgconfig/flutter.pc
# Usage: cmake/install.sh [--profile dev] PREFIX   (needs cargo and a C compiler)
# The release profile is the default; tests/run-all installs the dev profile's
# build, which its debug test run has mostly compiled already.
set -euo pipefail
profile=release
if [ "${1:-}" = --profile ] && [ $# -ge 2 ]; then profile=$2; shift 2; fi
[ $# -eq 1 ] || { echo "usage: cmake/install.sh [--profile NAME] PREFIX" >&2; exit 2; }
mkdir -p "$1"
prefix=$(cd "$1" && pwd)
case $profile in dev) profile_dir=debug ;; *) profile_dir=$profile ;; esac
cd "$(dirname "$0")/.."
CC=${CC:-cc}

# The Lua that the default `lua54` + `vendored` features embed; lua-src builds
# it with LUA_COMPAT_5_3, which the headers must see too.
lua_version=5.4
lua_defines=LUA_COMPAT_5_3

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
IFS=. read -r major minor _ <<<"$version"
# Before 1.0 a minor release may break the ABI, so it is part of the SONAME.
if [ "$major" = 0 ]; then soname=libflutter.so.$major.$minor; else soname=libflutter.so.$major; fi

# libflutter.a, and the system libraries it needs (rustc's note on them is
# replayed by cargo when the archive is already built).
build_log=$(cargo rustc --profile "$profile" --lib --quiet -- --print native-static-libs 2>&1) || {
  printf '%s\n' "$build_log" >&2; exit 1; }
native=$(printf '%s\n' "$build_log" | sed -n 's/.*native-static-libs: //p' | tail -n 1)
[ -n "$native" ] || { printf '%s\n' "$build_log" >&2; echo "no native-static-libs from rustc" >&2; exit 1; }

metadata=$(cargo metadata --format-version 1)
json_field() { printf '%s' "$metadata" | grep -o "\"$1\":\"[^\"]*${2:-}\"" | head -n 1 | cut -d'"' -f4; }
target_dir=$(json_field target_directory)
lua_manifest=$(json_field manifest_path '/lua-src-[0-9][^"]*/Cargo.toml')
[ -n "$target_dir" ] && [ -n "$lua_manifest" ] || { echo "cargo metadata: no target dir or lua-src" >&2; exit 1; }
lua_dirs=("$(dirname "$lua_manifest")"/lua-"$lua_version".*)
[ ${#lua_dirs[@]} -eq 1 ] && [ -f "${lua_dirs[0]}/lua.h" ] || {
  echo "no single lua-$lua_version.* in $(dirname "$lua_manifest")" >&2; exit 1; }
lua_dir=${lua_dirs[0]}

# libflutter.so from the archive: every object in, the version script decides
# what is exported, and -z defs proves the native libraries are complete.
# --wrap=snprintf: Lua's integer formatting takes flutter's fast path, as in
# the flutter command (build.rs, src/lua/integer2str.c).
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck disable=SC2086 # $native is a list of linker flags
"$CC" -shared -o "$work/libflutter.so.$version" \
  -Wl,--whole-archive "$target_dir/$profile_dir/libflutter.a" -Wl,--no-whole-archive \
  -Wl,--version-script=cmake/libflutter.map -Wl,-soname,"$soname" -Wl,--wrap=snprintf \
  -Wl,-z,defs -Wl,--gc-sections -Wl,--strip-debug -Wl,-z,relro,-z,now $native

install -d "$prefix/lib/cmake/flutter" "$prefix/lib/pkgconfig" "$prefix/include/flutter/lua"
install -m 644 "$target_dir/$profile_dir/libflutter.a" "$prefix/lib/"
install -m 755 "$work/libflutter.so.$version" "$prefix/lib/"
ln -sfn "libflutter.so.$version" "$prefix/lib/$soname"
ln -sfn "$soname" "$prefix/lib/libflutter.so"
install -m 644 include/flutter.h "$prefix/include/"
for h in lua.h luaconf.h lualib.h lauxlib.h; do
  install -m 644 "$lua_dir/$h" "$prefix/include/flutter/lua/"
done

cmake_libs=()
for flag in $native; do cmake_libs+=("${flag#-l}"); done
fill() {
  sed -e "s|@VERSION@|$version|g" -e "s|@VERSION_MAJOR@|$major|g" -e "s|@VERSION_MINOR@|$minor|g" \
      -e "s|@SONAME@|$soname|g" -e "s|@LUA_DEFINES@|$lua_defines|g" \
      -e "s|@LUA_CFLAGS@|-D$lua_defines|g" -e "s|@NATIVE_LIBS_FLAGS@|$native|g" \
      -e "s|@NATIVE_LIBS@|$(IFS=';'; echo "${cmake_libs[*]}")|g" \
      -e "s|@SIZEOF_VOID_P@|$(( $(getconf LONG_BIT) / 8 ))|g" "$1" > "$2"
}
fill cmake/flutterConfig.cmake.in "$prefix/lib/cmake/flutter/flutterConfig.cmake"
fill cmake/flutterConfigVersion.cmake.in "$prefix/lib/cmake/flutter/flutterConfigVersion.cmake"
fill cmake/flutter.pc.in "$prefix/lib/pkgconfig/flutter.pc"
echo "flutter $version ($profile) installed in $prefix ($soname; Lua headers from $(basename "$lua_dir"))"
