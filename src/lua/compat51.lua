-- Lua 5.1 only (the `lua51` feature): the environment the prelude is loaded
-- in. Lua 5.1 cannot yield across pcall or xpcall, and its xpcall passes no
-- arguments to the function; a script's pcall around a flutter operation (a
-- db call, a sleep) must pass that operation's yield on. The prelude's
-- guarded pcall and xpcall, the scripts' globals, are built on these
-- stand-ins, which run the function in a coroutine of its own and pass its
-- yields on up, as Lua 5.2+ do natively.
-- (A yield from a metamethod stays impossible in 5.1: see README.)
local create, resume, status, yield = coroutine.create, coroutine.resume, coroutine.status, coroutine.yield
local traceback, unpack, select, type = debug.traceback, unpack, select, type

local function pack(...)
  return { n = select("#", ...), ... }
end

-- Resumes `co` until it ends, passing each of its yields on to our resumer.
local function finish(co, handler, r)
  while true do
    if not r[1] then
      local e = r[2]
      if handler == nil then return false, e end
      -- The handler cannot run where the error was raised: give it the
      -- failed coroutine's traceback instead.
      if type(e) == "string" then e = traceback(co, e) end
      return false, handler(e)
    end
    if status(co) == "dead" then return true, unpack(r, 2, r.n) end
    r = pack(resume(co, yield(unpack(r, 2, r.n))))
  end
end

local function call(f, handler, ...)
  -- coroutine.create takes Lua functions only.
  local co = create(function(...) return f(...) end)
  return finish(co, handler, pack(resume(co, ...)))
end

return setmetatable({
  pcall = function(f, ...) return call(f, nil, ...) end,
  xpcall = function(f, handler, ...) return call(f, handler, ...) end,
}, { __index = _G })
