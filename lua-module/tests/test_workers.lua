-- script = "path": worker threads, each loading the script into its own
-- Lua state. step only waits; reload loads the script anew.
local H = require "helper"
local flutter = require "flutter"

CALLER_GLOBAL = "the caller's"

local app = H.tmp .. "/workers_app.lua"
local function write_app(version)
  H.write_file(app, ([[
local state = tostring({}):match("0x%%x+") or tostring({})
return function(req)
  if req.path == "/sleep" then flutter.sleep(0.5) end
  if req.path == "/pcall" then
    local ok, err = pcall(flutter.sleep, 0.05)
    return "pcall " .. tostring(ok) .. " " .. tostring(err)
  end
  return { json = { state = state, caller = tostring(rawget(_G, "CALLER_GLOBAL")),
    version = %q, has_flutter = type(require("flutter").json) } }
end
]]):format(version))
end
write_app("v1")

local server = assert(flutter.start { script = app, workers = 2, listen = "127.0.0.1:0", access_log = "off" })
local base = "http://127.0.0.1:" .. server:port()
H.eq(server:step(0.05), true, "step on worker threads waits and returns true")

local r = H.fetch(nil, base .. "/")
local body = flutter.json.decode(r.body)
H.eq(r.status, 200, "a worker thread answers")
H.eq(body.version, "v1", "the script's handler answers")
H.eq(body.caller, "nil", "the script's state is not the caller's")
H.eq(body.has_flutter, "table", "the script's state has the flutter library")

r = H.fetch(nil, base .. "/pcall")
H.eq(r.body, "pcall true nil", "flutter.sleep inside the script's own pcall")

local reqs = {}
for i = 1, 24 do reqs[i] = H.request(base .. "/sleep") end
H.await(nil, reqs)
local states, answered = {}, 0
for _, q in ipairs(reqs) do
  if q.status == 200 then
    answered = answered + 1
    states[flutter.json.decode(q.body).state] = true
  end
end
local distinct = 0
for _ in pairs(states) do distinct = distinct + 1 end
H.eq(answered, 24, "24 requests to 2 workers are answered")
H.eq(distinct, 2, "the requests were spread over 2 Lua states")

write_app("v2")
server:reload()
local version
for _ = 1, 100 do
  version = flutter.json.decode(H.fetch(nil, base .. "/").body).version
  if version == "v2" then break end
  os.execute("sleep 0.05")
end
H.eq(version, "v2", "reload loads the script anew")

server:stop()
H.eq(server:step(0), false, "step after stop returns false")
H.eq(H.fetch(nil, base .. "/").status, 0, "stopped workers no longer accept connections")

-- a script that does not load: nil and the file:line message
local broken = H.tmp .. "/broken_app.lua"
H.write_file(broken, "return function(req)\n  return 'x'\nend end\n")
local s, err = flutter.start { script = broken, workers = 2, listen = "127.0.0.1:0", access_log = "off" }
H.eq(s, nil, "a script with a syntax error: start returns nil")
H.has(err, "broken_app.lua:3", "the message gives the script's file and line")

-- run on worker threads until SIGTERM
local f = assert(io.open("/proc/self/stat"))
local pid = f:read("*l"):match("^(%d+)")
f:close()
server = assert(flutter.start { script = app, workers = 2, listen = "127.0.0.1:0", access_log = "off" })
os.execute("(sleep 0.5; kill -TERM " .. pid .. ") &")
H.eq(server:run(), true, "SIGTERM stops run on worker threads")
H.eq(server:step(0), false, "the workers are stopped after run returns")

H.done()
