-- Builds flutter.so for the Lua that runs this script: luarocks runs it as
-- `$(LUA) rock-build.lua` (see the rockspec), so the module is built for the
-- interpreter the rock is installed for. tests/run uses it too.
-- Needs cargo; the binary rock made from the result does not.
local feature = "luajit"
if not rawget(_G, "jit") then
  local major, minor = _VERSION:match("(%d)%.(%d)")
  feature = "lua" .. major .. minor
end
local target = "target/" .. feature
-- The rock is a release build; tests/run builds the other Lua versions with
-- FLUTTER_ROCK_PROFILE=dev, which compiles much faster.
local profile = os.getenv("FLUTTER_ROCK_PROFILE") or "release"
local out = profile == "dev" and "debug" or profile
-- Run from this script's directory, wherever it is called from.
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$")
local function run(cmd)
  if here then cmd = ("cd '%s' && %s"):format(here:gsub("'", "'\\''"), cmd) end
  print(cmd)
  local ok, how, code = os.execute(cmd)
  -- Lua 5.1 returns the status alone; 5.2+ returns true or nil, "exit", code.
  if ok ~= true and ok ~= 0 then
    error(("failed (%s %s): %s"):format(tostring(how), tostring(code or ok), cmd), 0)
  end
end
run(("cargo build --profile %s --no-default-features --features %s --target-dir %s"):format(profile, feature, target))
run("mkdir -p build")
run(("cp %s/%s/libflutter_lua.so build/flutter.so"):format(target, out))
print(("built %s/build/flutter.so for %s (feature %s, profile %s)"):format(here or ".",
  rawget(_G, "jit") and jit.version or _VERSION, feature, profile))
