#!/bin/sh
# libflutter.so exports only the C API (flutter_*) and the Lua C API that C
# modules link against (lua_*, luaL_*, luaopen_*), and has a SONAME.
set -eu
lib=$1
soname=$(objdump -p "$lib" | awk '$1 == "SONAME" { print $2 }')
case $soname in
  libflutter.so.*) ;;
  *) echo "$lib: no libflutter SONAME (found '$soname')"; exit 1 ;;
esac
symbols=$(nm -D --defined-only "$lib" | awk '{ print $3 }')
others=$(printf '%s\n' "$symbols" | grep -Ev '^(flutter_|lua_|luaL_|luaopen_)' || true)
if [ -n "$others" ]; then
  echo "$lib exports symbols outside the C API:"
  printf '%s\n' "$others" | head -20
  exit 1
fi
for needed in flutter_config_new flutter_server_start lua_pushinteger luaL_checkversion_ luaopen_base; do
  printf '%s\n' "$symbols" | grep -qx "$needed" || { echo "$lib does not export $needed"; exit 1; }
done
echo "$lib ($soname): $(printf '%s\n' "$symbols" | grep -c '^flutter_') flutter_* and" \
  "$(printf '%s\n' "$symbols" | grep -Ec '^lua(L?_|open_)') Lua symbols, nothing else"
