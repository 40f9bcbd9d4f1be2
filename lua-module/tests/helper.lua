-- Test helpers for the Lua module's suites, run by tests/run with a real
-- interpreter (lua5.4, or luajit for that build). Requests go over real
-- sockets with curl, started in the background so that a server stepping in
-- this very thread can answer them. Written for Lua 5.1 to 5.4.

local H = {}

local passed, failed = 0, 0

function H.check(cond, name, detail)
  if cond then
    passed = passed + 1
    print("ok - " .. name)
  else
    failed = failed + 1
    print("not ok - " .. name .. (detail ~= nil and (": " .. tostring(detail)) or ""))
  end
  return cond
end

function H.eq(got, want, name)
  return H.check(got == want, name, ("got %q, want %q"):format(tostring(got), tostring(want)))
end

-- Whether `text` contains `part` (plain).
function H.has(text, part, name)
  return H.check(type(text) == "string" and text:find(part, 1, true) ~= nil, name,
    ("%q does not contain %q"):format(tostring(text), part))
end

-- Runs f, expecting it to raise an error containing every one of `parts`.
function H.raises(f, parts, name)
  local ok, err = pcall(f)
  if ok then return H.check(false, name, "no error raised") end
  err = tostring(err)
  for _, part in ipairs(parts) do
    if not err:find(part, 1, true) then
      return H.check(false, name, ("error %q does not contain %q"):format(err, part))
    end
  end
  return H.check(true, name)
end

function H.done()
  print(("%d passed, %d failed"):format(passed, failed))
  os.exit(failed == 0 and 0 or 1)
end

local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
H.quote = quote

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local data = f:read("*a")
  f:close()
  return data
end
H.read_file = read_file

function H.write_file(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

local tmp = os.getenv("FLUTTER_TEST_TMP")
if not tmp then
  tmp = os.tmpname()
  os.remove(tmp)
  assert(os.execute("mkdir -p " .. quote(tmp)))
end
H.tmp = tmp

-- Seconds since the epoch, with fractions (for coarse wall-clock checks).
function H.now()
  local p = io.popen("date +%s.%N")
  local t = tonumber(p:read("*l"))
  p:close()
  return t
end

local count = 0

-- Starts `curl ARGS URL` in the background; H.await collects the answer.
function H.request(url, args)
  count = count + 1
  local out = ("%s/req%d"):format(tmp, count)
  for _, ext in ipairs { ".done", ".meta", ".err", ".body", ".head" } do os.remove(out .. ext) end
  local cmd = { "curl -sS -m 30 -o", quote(out .. ".body"), "-D", quote(out .. ".head"),
    "-w", quote("%{http_code} %{time_total}") }
  for _, a in ipairs(args or {}) do cmd[#cmd + 1] = quote(a) end
  cmd[#cmd + 1] = quote(url)
  os.execute(("(%s > %s 2> %s; mv %s %s) &"):format(table.concat(cmd, " "),
    quote(out .. ".meta"), quote(out .. ".err"), quote(out .. ".meta"), quote(out .. ".done")))
  return { out = out, url = url }
end

local function collect(r)
  local meta = read_file(r.out .. ".done")
  if not meta then return false end
  local status, time = meta:match("^(%d+) ([%d.]+)")
  r.status = tonumber(status)
  r.time = tonumber(time)
  r.error = read_file(r.out .. ".err")
  r.body = read_file(r.out .. ".body")
  r.head = (read_file(r.out .. ".head") or ""):lower()
  return true
end

-- Steps `server` (if given: a server of this thread) until every request in
-- `reqs` is answered; 30 seconds at most. Returns reqs.
function H.await(server, reqs)
  local deadline = os.time() + 30
  while true do
    local all = true
    for _, r in ipairs(reqs) do
      if r.status == nil and r.error == nil and not collect(r) then all = false end
    end
    if all then return reqs end
    if os.time() > deadline then error("requests not answered in 30 s", 2) end
    if server then server:step(0.01) else os.execute("sleep 0.02") end
  end
end

-- One request, answered by `server` stepping here (or by other threads).
function H.fetch(server, url, args)
  return H.await(server, { H.request(url, args) })[1]
end

return H
