-- `luarocks make` in this directory builds the module with cargo and installs
-- it; `luarocks pack flutter` then makes the binary rock, which installs
-- without cargo or rustc. The version follows Cargo.toml (tests/run checks).
rockspec_format = "3.0"
package = "flutter"
version = "0.4.0-1"

source = {
  -- Built from a checkout with `luarocks make`; no source archive is published yet.
  url = "git+file://./",
}

description = {
  summary = "A fast, light HTTP server whose request handlers are Lua functions",
  detailed = [[
flutter.serve{ listen = "127.0.0.1:8080", handler = function(req) ... end }
serves HTTP/1.1 from a plain Lua interpreter: every request runs in its own
coroutine of the caller's Lua state, so a handler that sleeps or waits for a
body never blocks the others. Options are those of the flutter command.
]],
  license = "MIT",
  labels = { "http", "server", "web" },
}

supported_platforms = { "linux" }

dependencies = {
  "lua >= 5.1, < 5.5",
}

build = {
  -- rust-mlua would do this too, but it is fetched from luarocks.org; this
  -- needs nothing but cargo. rock-build.lua picks the cargo feature (lua54,
  -- lua53, lua52, lua51 or luajit) from the interpreter luarocks targets.
  type = "command",
  build_command = "$(LUA) rock-build.lua",
  install = {
    -- The Rust library is libflutter_lua.so (libflutter is the C library);
    -- rock-build.lua copies it to build/flutter.so, for require "flutter".
    lib = { flutter = "build/flutter.so" },
  },
}
