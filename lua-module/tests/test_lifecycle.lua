-- Start, stop, start again; step and run; stop and reload from a handler;
-- runtime failures as nil, message; signals while run blocks.
local H = require "helper"
local flutter = require "flutter"

local function hello() return "hello" end
local function fetch_ok(server, base, name)
  local r = H.fetch(server, base .. "/")
  return H.eq(r.status, 200, name)
end

-- start / stop / start again on the same port
local server = assert(flutter.start { listen = "127.0.0.1:0", access_log = "off", handler = hello })
local port = server:port()
local base = "http://127.0.0.1:" .. port
fetch_ok(server, base, "first start answers")
server:stop()
server:stop()
H.check(true, "stop twice is harmless")
H.eq(H.fetch(nil, base .. "/").status, 0, "nothing listens after stop")
server = assert(flutter.start { listen = "127.0.0.1:" .. port, access_log = "off", handler = hello })
H.eq(server:port(), port, "start again on the same port")
fetch_ok(server, base, "second start answers")
server:stop()

-- step: a bounded wait that returns true while the server runs
server = assert(flutter.start { listen = "127.0.0.1:0", access_log = "off", handler = hello })
local t0 = H.now()
H.eq(server:step(0.3), true, "step with nothing to do returns true")
local waited = H.now() - t0
H.check(waited >= 0.25 and waited < 3, "step(0.3) waits about 0.3 s", waited)
H.eq(server:step(), true, "step() without a timeout does not wait")
H.raises(function() server:step(-1) end, { "server:step", "-1" }, "step(-1) is an error")
server:stop()

-- a handler stops its own server: the loop driving it ends
local quitting
quitting = assert(flutter.start {
  listen = "127.0.0.1:0", access_log = "off",
  handler = function(req)
    if req.path == "/quit" then quitting:stop() return "bye" end
    if req.path == "/step" then quitting:step(0) end
    if req.path == "/reload" then quitting:reload() end
    return "up"
  end,
})
base = "http://127.0.0.1:" .. quitting:port()
local r = H.fetch(quitting, base .. "/step")
H.eq(r.status, 500, "step from a handler of the same server is an error (500)")
r = H.fetch(quitting, base .. "/reload")
H.eq(r.body, "up", "reload from a handler")
fetch_ok(quitting, base, "serves after a reload from a handler")
quitting:reload()
fetch_ok(quitting, base, "serves after server:reload()")
local req = H.request(base .. "/quit")
local steps = 0
while quitting:step(0.05) do
  steps = steps + 1
  if steps > 2000 then break end
end
H.await(nil, { req })
H.eq(req.body, "bye", "the stopping request is answered")
H.check(steps < 2000, "step returns false once a handler stopped the server", steps)

-- run serves until a handler stops the server
local runner
runner = assert(flutter.start {
  listen = "127.0.0.1:0", access_log = "off",
  handler = function(rq)
    if rq.path == "/quit" then runner:stop() end
    return "ran"
  end,
})
base = "http://127.0.0.1:" .. runner:port()
req = H.request(base .. "/quit")
H.eq(runner:run(), true, "run returns true once stopped")
H.await(nil, { req })
H.eq(req.body, "ran", "run answered the request that stopped it")

-- run until SIGTERM
local function my_pid()
  local f = assert(io.open("/proc/self/stat"))
  local pid = f:read("*l"):match("^(%d+)")
  f:close()
  return pid
end
runner = assert(flutter.start { listen = "127.0.0.1:0", access_log = "off", handler = hello })
os.execute("(sleep 0.5; kill -TERM " .. my_pid() .. ") &")
t0 = H.now()
H.eq(runner:run(), true, "SIGTERM stops run gracefully")
H.check(H.now() - t0 < 10, "run returned soon after SIGTERM")

-- runtime failures: nil, message from start; an error from serve
local holder = io.popen([[python3 -c 'import socket,time
s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(); print(s.getsockname()[1], flush=True); time.sleep(20)']])
local busy = holder and holder:read("*l")
if busy then
  local s, err = flutter.start { listen = "127.0.0.1:" .. busy, access_log = "off", handler = hello }
  H.eq(s, nil, "start on an address in use returns nil")
  H.has(err, "127.0.0.1:" .. busy, "the message names the address")
  H.has(err:lower(), "in use", "the message says the address is in use")
  H.raises(function()
    flutter.serve { listen = "127.0.0.1:" .. busy, access_log = "off", handler = hello }
  end, { "flutter.serve", "127.0.0.1:" .. busy }, "serve on an address in use raises")
else
  H.check(false, "python3 holds a port for the address-in-use test")
end
local s, err = flutter.start { listen = "192.0.2.1:80", access_log = "off", handler = hello }
H.eq(s, nil, "start on an address not on this machine returns nil")
H.has(err, "192.0.2.1:80", "the message names that address")
s, err = flutter.start { listen = "127.0.0.1:0", access_log = "off", script = H.tmp .. "/missing.lua" }
H.eq(s, nil, "start with a missing script returns nil")
H.has(err, "missing.lua", "the message names the script")

-- a server that is collected closes its listener
local lost = assert(flutter.start { listen = "127.0.0.1:0", access_log = "off", handler = hello })
local lost_port = lost:port()
lost = nil
collectgarbage()
collectgarbage()
H.eq(H.fetch(nil, "http://127.0.0.1:" .. lost_port .. "/").status, 0, "a collected server stops listening")

-- `<close>` stops the server at the end of its scope (Lua 5.4)
if _VERSION == "Lua 5.4" and not rawget(_G, "jit") then
  local closed_port = assert(load([[
    local flutter = ...
    local server <close> = assert(flutter.start { listen = "127.0.0.1:0", access_log = "off",
      handler = function() return "x" end })
    return server:port()
  ]]))(flutter)
  H.eq(H.fetch(nil, "http://127.0.0.1:" .. closed_port .. "/").status, 0, "<close> stops the server")
end

if holder then holder:close() end
H.done()
