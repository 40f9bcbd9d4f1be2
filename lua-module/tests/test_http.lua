-- Real HTTP requests to a server whose handler is a function of this state,
-- driven by server:step from this loop.
local H = require "helper"
local flutter = require "flutter"

H.check(rawget(_G, "flutter") == nil, "require sets no global")
H.check(package.loaded.flutter == flutter, "package.loaded.flutter is the module")
H.eq(type(flutter.json.encode), "function", "flutter.json is there")
H.eq(flutter.json.encode(flutter.json.decode('{"a":[1,2,null]}')), '{"a":[1,2,null]}',
  "flutter.json round trip")
H.eq(flutter.escape_html("<a&b>"), "&lt;a&amp;b&gt;", "flutter.escape_html")
H.eq(type(flutter.sleep), "function", "flutter.sleep is there")
H.eq(type(flutter.log), "function", "flutter.log is there")

local inflight, most_inflight = 0, 0
local upvalue = "from the caller's state"

local server = assert(flutter.start {
  listen = "127.0.0.1:0",
  access_log = "off",
  handler = function(req)
    if req.path == "/echo" then
      return {
        json = {
          method = req.method, path = req.path, query = req.query, args = req.args,
          header = req.headers["x-test"], agent = req.headers["user-agent"],
          form = req.form, json = req.json, upvalue = upvalue,
        },
      }
    elseif req.path == "/status" then
      return { status = 201, headers = { ["x-a"] = "1", ["set-cookie"] = { "a=1", "b=2" } }, body = "made" }
    elseif req.path == "/fail" then
      error("this handler fails")
    elseif req.path == "/sleep" then
      inflight = inflight + 1
      if inflight > most_inflight then most_inflight = inflight end
      flutter.sleep(tonumber(req.args.s))
      inflight = inflight - 1
      return "slept"
    elseif req.path == "/read" then
      local n, chunks = 0, 0
      while true do
        local chunk = req:read()
        if not chunk then break end
        n, chunks = n + #chunk, chunks + 1
      end
      return ("read %d bytes"):format(n)
    elseif req.path == "/size" then
      return ("body of %d bytes"):format(#req.body)
    elseif req.path == "/stream" then
      local n = 0
      return {
        body = function()
          n = n + 1
          if n > 3 then return nil end
          flutter.sleep(0.01)
          return "chunk" .. n .. ";"
        end,
      }
    end
    return "<p>hello</p>"
  end,
})
local port = server:port()
H.check(type(port) == "number" and port > 0, "server:port() is the bound port", port)
H.has(tostring(server), "127.0.0.1:" .. port, "tostring(server) shows the address")
local base = "http://127.0.0.1:" .. port

local r = H.fetch(server, base .. "/")
H.eq(r.status, 200, "GET / answers 200")
H.eq(r.body, "<p>hello</p>", "a string response is the body")
H.has(r.head, "content-type: text/html; charset=utf-8", "a string response is HTML")

r = H.fetch(server, base .. "/echo?name=lua&x=1&x=2&e=a%20b", { "-H", "X-Test: Value 1", "-A", "tester/1" })
local echo = flutter.json.decode(r.body)
H.eq(r.status, 200, "GET /echo answers 200")
H.has(r.head, "content-type: application/json", "{ json = ... } is JSON")
H.eq(echo.method, "GET", "req.method")
H.eq(echo.path, "/echo", "req.path")
H.eq(echo.query, "name=lua&x=1&x=2&e=a%20b", "req.query")
H.eq(echo.args.name, "lua", "req.args: one value")
H.eq(type(echo.args.x) == "table" and table.concat(echo.args.x, ","), "1,2", "req.args: a repeated key is an array")
H.eq(echo.args.e, "a b", "req.args are decoded")
H.eq(echo.header, "Value 1", "req.headers by lower-case name")
H.eq(echo.agent, "tester/1", "req.headers user-agent")
H.eq(echo.upvalue, "from the caller's state", "the handler sees the caller's upvalues")

r = H.fetch(server, base .. "/echo", { "--data-urlencode", "a=1 2", "-d", "b=x&b=y" })
echo = flutter.json.decode(r.body)
H.eq(echo.method, "POST", "POST form: req.method")
H.eq(echo.form.a, "1 2", "POST form: urlencoded field")
H.eq(type(echo.form.b) == "table" and table.concat(echo.form.b, ","), "x,y", "POST form: repeated field")

r = H.fetch(server, base .. "/echo", { "-F", "f=hello", "-F", "up=@" .. arg[0] .. ";filename=t.lua" })
echo = flutter.json.decode(r.body)
H.eq(echo.form.f, "hello", "multipart form: a field")
H.eq(type(echo.form.up) == "table" and echo.form.up.name, "t.lua", "multipart form: a file's name")

r = H.fetch(server, base .. "/echo", { "-H", "Content-Type: application/json", "-d", '{"k":[1,2],"s":"\\u00e9"}' })
echo = flutter.json.decode(r.body)
H.eq(type(echo.json) == "table" and type(echo.json.k) == "table" and echo.json.k[2], 2, "JSON body: req.json")
H.eq(echo.json and echo.json.s, "\195\169", "JSON body: strings are UTF-8")

r = H.fetch(server, base .. "/echo", { "-H", "Content-Type: application/json", "-d", "{oops" })
H.eq(r.status, 400, "a malformed JSON body is answered with 400")

-- A body over body_buffer_bytes (64 KiB): the handler starts before it is
-- all here, and waits for it.
local big = H.tmp .. "/big_body"
H.write_file(big, ("0123456789abcdef"):rep(20000))
r = H.fetch(server, base .. "/read", { "--data-binary", "@" .. big })
H.eq(r.body, "read 320000 bytes", "req:read() streams a large body")
if _VERSION == "Lua 5.1" and not rawget(_G, "jit") then
  print("# skipped on Lua 5.1: req.body of a large body (no yield from a metamethod)")
else
  r = H.fetch(server, base .. "/size", { "--data-binary", "@" .. big })
  H.eq(r.body, "body of 320000 bytes", "req.body waits for a large body")
end

r = H.fetch(server, base .. "/status")
H.eq(r.status, 201, "a response table's status")
H.has(r.head, "x-a: 1", "a response table's header")
H.has(r.head, "set-cookie: a=1", "a repeated header (1)")
H.has(r.head, "set-cookie: b=2", "a repeated header (2)")
H.eq(r.body, "made", "a response table's body")

r = H.fetch(server, base .. "/stream")
H.eq(r.body, "chunk1;chunk2;chunk3;", "a streamed body")
H.has(r.head, "transfer-encoding: chunked", "a streamed body is chunked")

r = H.fetch(server, base .. "/fail")
H.eq(r.status, 500, "a handler error gives 500")
H.check(not r.body:find("this handler fails", 1, true), "the 500 page does not show the error")
r = H.fetch(server, base .. "/")
H.eq(r.status, 200, "the server goes on after a handler error")

-- Two requests that sleep 1.5 s each, at once: coroutines, so they overlap.
-- Timed from when both handlers run until both are done (curl's own start-up
-- on a busy machine is not the server's business).
local both = { H.request(base .. "/sleep?s=1.5"), H.request(base .. "/sleep?s=1.5") }
local deadline = os.time() + 30
while most_inflight < 2 and os.time() < deadline do server:step(0.01) end
local t0 = H.now()
while inflight > 0 and os.time() < deadline do server:step(0.01) end
local total = H.now() - t0
H.await(server, both)
H.eq(both[1].body .. both[2].body, "sleptslept", "two sleeping requests are answered")
H.eq(most_inflight, 2, "two sleeping requests were in flight at once")
H.check(total < 3, ("two 1.5 s sleeps overlap: total %.2f s < sum 3 s"):format(total))

-- Many at once.
local many = {}
for i = 1, 20 do many[i] = H.request(base .. "/sleep?s=0.2") end
H.await(server, many)
local ok = 0
for _, m in ipairs(many) do if m.status == 200 then ok = ok + 1 end end
H.eq(ok, 20, "20 concurrent sleeping requests are all answered")

server:stop()
H.eq(server:step(0), false, "step after stop returns false")
H.has(tostring(server), "stopped", "tostring of a stopped server")
r = H.fetch(nil, base .. "/")
H.eq(r.status, 0, "a stopped server no longer accepts connections")

H.done()
