-- The part of the request runner written in Lua: what must be able to yield
-- (waiting for the body, sleeping, streaming) lives here, the rest in Rust.
-- Called once per Lua state with the yield token and the native functions;
-- returns the runner, the library functions it adds, the metatable of body
-- errors and the guarded pcall/xpcall/coroutine.resume.
local TOKEN, native = ...
local yield, xpcall = coroutine.yield, xpcall
local type, setmetatable, rawget, rawset, next, tostring = type, setmetatable, rawget, rawset, next, tostring

-- Operation codes understood by the worker (see lua/mod.rs).
local SLEEP, READ, BODY, WRITE, AWAIT = 1, 2, 3, 5, 6

local body_read, body_complete, body_fill = native.body_read, native.body_complete, native.body_fill
local http_error_mt = {}

-- Raises an error answered with `status` (a malformed or failed body).
local function check(ok, status, message)
  if ok == nil and status ~= nil then
    error(setmetatable({ status = status, message = message }, http_error_mt), 0)
  end
  return ok
end

-- Private keys of req: its native handle, and whether the body fields are set.
local HANDLE, FILLED = {}, {}
local req_field = native.req_field

local methods = {}

-- Up to n bytes of the body (default 64 KiB), waiting for them to arrive; nil at its end.
function methods.read(req, n)
  local b = rawget(req, HANDLE)
  if b == nil then return nil end
  while true do
    local chunk = check(body_read(b, n))
    if chunk ~= false then return chunk end
    yield(TOKEN, READ)
  end
end

-- Fields built on first use, by the native side or from the body.
local built = {
  headers = true, args = true, cookies = true, remote_addr = true, tls = true,
  query = true, uri = true, version = true, scheme = true, remote_port = true, id = true,
}
local from_body = { body = true, form = true, json = true, files = true, body_path = true }

-- Sets the body fields once; waits for the body when `wait`, else only if it is here.
local function fill(req, wait)
  local b = rawget(req, HANDLE)
  if b == nil or rawget(req, FILLED) then return end
  if not wait and not check(body_complete(b)) then return end
  rawset(req, FILLED, true)
  while not check(body_complete(b)) do yield(TOKEN, BODY) end
  check(body_fill(req, b))
end

local function hidden_next(t, k)
  local nk, nv = next(t, k)
  while nk == HANDLE or nk == FILLED do nk, nv = next(t, nk) end
  return nk, nv
end

-- The session module's hooks (lua/session.lua): given by native.use_session
-- when the module is loaded, before any request runs.
local session
function native.use_session(hooks) session = hooks end

local req_mt = {
  __index = function(req, k)
    local m = methods[k]
    if m ~= nil then return m end
    -- The session is loaded on first use (see lua/session.lua).
    if k == "session" then return session.load(req) end
    local b = rawget(req, HANDLE)
    if b == nil then return nil end
    if built[k] then
      local v = req_field(b, k)
      rawset(req, k, v)
      return v
    end
    -- Filled in once: a field that stays nil (json of a form, say) is just nil.
    if from_body[k] then
      fill(req, true)
      return rawget(req, k)
    end
  end,
  -- Assigning req.session without reading it first counts as touching it
  -- (see runner); other new fields are stored as given.
  __newindex = function(req, k, v)
    if k == "session" then session.touched = session.touched + 1 end
    rawset(req, k, v)
  end,
  -- pairs(req) shows every field, as a plain table would.
  __pairs = function(req)
    local b = rawget(req, HANDLE)
    if b ~= nil then
      for k in next, built do
        if rawget(req, k) == nil then rawset(req, k, req_field(b, k)) end
      end
      fill(req, false)
    end
    return hidden_next, req, nil
  end,
}

-- The runner of `handler`'s requests: the body of their coroutines. `req`
-- is built here from its handle (new_req), or comes built, with the body
-- fields filled in, when the body was here before the handler started
-- (request::build in Rust). An error ends the coroutine: the worker reads
-- it, and its traceback, off the dead coroutine (see lua/coroutine.rs).
local function runner(handler)
  -- Read here: the native is made once this file's private values exist.
  local new_req = native.new_req
  return function(handle, req)
    -- `not req` and `>` below: VM instructions that call no helper.
    if not req then req = new_req(handle) end
    local touched = session.touched
    local res = handler(req)
    -- A session the handler used is saved, and its cookie set, before the
    -- head goes out. (Sessions touched meanwhile by requests that ran while
    -- this one waited make it ask `used`.)
    if session.touched > touched and session.used(req) then
      res = session.save(req, res)
    end
    return res
  end
end

-- Streams a body a handler gave as a function: on a coroutine of its own,
-- started by the worker once the head is out (see Runtime::resume).
local function stream(produce)
  while true do
    local chunk = produce()
    if chunk == nil then return end
    if type(chunk) == "number" then chunk = tostring(chunk) end
    yield(TOKEN, WRITE, chunk)
  end
end

-- Stand-ins for pcall, xpcall, coroutine.resume and coroutine.wrap, installed
-- as globals in the states flutter owns. Outside a request they behave exactly
-- like the originals. In a request:
-- - a request that reaches the state's memory limit ends with 500 and the
--   state is replaced: catching the memory error does not let it go on
--   retrying (each failed allocation costs a full garbage collection);
-- - a flutter operation (sleep, req:read, ...) inside one of the script's own
--   coroutines waits in the worker loop like anywhere else: its yield is passed
--   on up, and the coroutine resumed when the operation is done.
local MEMORY_ERROR = "not enough memory"
local out_of_memory = native.out_of_memory
local raw_pcall, raw_resume, raw_create = pcall, coroutine.resume, coroutine.create
local raw_status, raw_close = coroutine.status, coroutine.close

local function pass(ok, ...)
  if not ok and ... == MEMORY_ERROR and out_of_memory() then error(MEMORY_ERROR, 0) end
  return ok, ...
end

-- Resumes `co`. Where the budget hook is turned on late (lua/watchdog.rs,
-- Lua 5.4), the watchdog's signal must find the coroutine running now:
-- `track` tells it, and is told again when `co` stops.
local switch_to = raw_resume
local track = native.track
if track ~= nil then
  local function back(outer, ...)
    track(outer)
    return ...
  end
  switch_to = function(co, ...)
    local outer = track(co)
    return back(outer, raw_resume(co, ...))
  end
end

local function through(co, ok, ...)
  if ok and ... == TOKEN then return through(co, switch_to(co, yield(...))) end
  return pass(ok, ...)
end

local function resume(co, ...)
  return through(co, switch_to(co, ...))
end

-- What coroutine.wrap's function returns or raises.
local function unwrap(co, ok, ...)
  if ok then return ... end
  local e = ...
  if raw_close ~= nil and raw_status(co) == "dead" then raw_close(co) end
  -- Like coroutine.wrap, a message gets the position of the call.
  if type(e) == "string" and e ~= MEMORY_ERROR then error(e, 2) end
  error(e, 0)
end

local guards = {
  pcall = function(...) return pass(raw_pcall(...)) end,
  xpcall = function(...) return pass(xpcall(...)) end,
  resume = resume,
  wrap = function(f)
    local co = raw_create(f)
    return function(...) return unwrap(co, resume(co, ...)) end
  end,
}

-- Waits for a job queued on the blocking pool (see lua/blocking.rs); returns
-- what the job's finish made of its result.
function native.await(ticket)
  return yield(TOKEN, AWAIT, ticket)
end

local library = {}

-- Suspends the calling request for `seconds`; other requests go on meanwhile.
function library.sleep(seconds)
  if type(seconds) ~= "number" or seconds ~= seconds or seconds < 0 then
    error("flutter.sleep: expected a number of seconds >= 0, got " .. tostring(seconds), 2)
  end
  yield(TOKEN, SLEEP, seconds)
end

return runner, stream, library, http_error_mt, guards, { HANDLE, FILLED, req_mt }
