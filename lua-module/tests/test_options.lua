-- Options: the core Config's, by the command line's names. A mistake raises
-- an error naming the option and the value; numbers and booleans are taken.
local H = require "helper"
local flutter = require "flutter"

local function hello() return "hello" end
local function opts(t)
  t.listen = t.listen or "127.0.0.1:0"
  t.access_log = t.access_log or "off"
  if t.handler == nil and t.script == nil then t.handler = hello end
  return t
end
local function refused(t, parts, name)
  table.insert(parts, 1, "flutter.start")
  H.raises(function() flutter.start(opts(t)) end, parts, name)
end

refused({ max_body_bytes = "12x" }, { "max_body_bytes", '"12x"' }, "a bad count names option and value")
refused({ workers = 0 }, { "workers", '"0"' }, "workers = 0")
refused({ header_timeout = -1 }, { "header_timeout", '"-1"' }, "a negative timeout")
refused({ idle_timeout = "soon" }, { "idle_timeout", '"soon"' }, "a timeout that is no time")
refused({ dev = "maybe" }, { "dev", '"maybe"' }, "a flag that is no boolean")
refused({ bogus = 1 }, { "bogus", "no such option" }, "an unknown option")
refused({ listen = "nonsense:port" }, { "listen", "nonsense:port" }, "a bad address")
refused({ listen = { "127.0.0.1:0", "nonsense" } }, { "listen", "nonsense" }, "a bad address in a list")
refused({ access_log = {} }, { "access_log", "table" }, "a table where text is expected")
refused({ temp_dir = "/no/such/dir" }, { "temp_dir", "/no/such/dir" }, "a temp_dir that is no directory")
refused({ handler = 5 }, { "handler", "function", "number" }, "a handler that is no function")
refused({ script = true }, { "script", "boolean" }, "a script that is no path")
refused({ handler = hello, script = "app.lua" }, { "handler", "script" }, "handler and script at once")
refused({ handler = false }, { "handler" }, "no handler")
refused({ workers = 4 }, { "workers", '"4"', "script" }, "workers > 1 with a handler function")
refused({ lua_memory_limit = 16777216 }, { "lua_memory_limit" }, "a memory limit with a handler function")
refused({ [1] = "x" }, { "option names are strings" }, "an array item")
H.raises(function() flutter.start() end, { "flutter.start", "table" }, "start without options")
H.raises(function() flutter.start("127.0.0.1:0") end, { "flutter.start", "table" }, "start with a string")
H.raises(function() flutter.serve { bogus = 1, handler = hello } end, { "flutter.serve", "bogus" },
  "serve raises for a bad option")

-- numbers and booleans convert; kebab-case names as on the command line work too
local server = assert(flutter.start(opts {
  dev = true,
  workers = 1,
  max_body_bytes = 10,
  header_timeout = 0.5,
  body_timeout = "2s",
  ["max-headers"] = 50,
  shutdown_timeout = 2,
  listen = { "127.0.0.1:0", "127.0.0.1:0" },
  handler = function(req)
    if req.path == "/fail" then error("dev mode shows me") end
    return "body " .. tostring(req.body and #req.body)
  end,
}))
local base = "http://127.0.0.1:" .. server:port()
local r = H.fetch(server, base .. "/", { "-d", "0123456789" })
H.eq(r.body, "body 10", "max_body_bytes = 10: 10 bytes pass")
r = H.fetch(server, base .. "/", { "-d", "0123456789x" })
H.eq(r.status, 413, "max_body_bytes = 10: 11 bytes get 413")
r = H.fetch(server, base .. "/fail")
H.eq(r.status, 500, "dev = true: still a 500")
H.has(r.body, "dev mode shows me", "dev = true: the error page shows the error")
server:stop()

-- lua_instruction_limit stops a runaway handler; the server goes on. LuaJIT
-- runs no hooks in compiled code, so there a JIT-compiled loop is not stopped.
if rawget(_G, "jit") then
  print("# skipped on LuaJIT: lua_instruction_limit (no hooks in JIT-compiled code)")
  H.done()
end
server = assert(flutter.start(opts {
  lua_instruction_limit = 1000000,
  handler = function(req)
    if req.path == "/loop" then while true do end end
    if req.path == "/catch" then
      while true do pcall(function() for _ = 1, 1e9 do end end) end
    end
    return "fine"
  end,
}))
base = "http://127.0.0.1:" .. server:port()
r = H.fetch(server, base .. "/loop")
H.eq(r.status, 500, "a runaway handler is stopped with 500")
r = H.fetch(server, base .. "/")
H.eq(r.body, "fine", "the server goes on after a runaway handler")
if true then
  r = H.fetch(server, base .. "/catch")
  H.eq(r.status, 500, "a runaway handler is stopped even when it catches errors")
end
server:stop()

H.done()
