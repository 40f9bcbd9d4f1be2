-- flutter.db: the Lua side of lua/db.rs. Each method hands its work to a
-- native function, which queues it on the blocking pool and returns a ticket;
-- `await` yields the request's coroutine until the job is done. Outside a
-- request (a script's top level) the native runs the job to its end at once.
-- A native answers `false, message` for a programmer's mistake, raised here
-- at the caller's line; a database failure comes back as `nil, message`.
local native, await = ...
local isyieldable, type, error, pcall, select = coroutine.isyieldable, type, error, pcall, select
-- LuaJIT and Lua 5.1 have neither table.pack nor table.unpack.
local pack = table.pack or function(...) return { n = select("#", ...), ... } end
local unpack = table.unpack or unpack
local setmetatable, tostring = setmetatable, tostring

-- database or transaction object -> its native handle
local handles = setmetatable({}, { __mode = "k" })

local function call(name, f, ...)
  if isyieldable() then
    local ticket, a, b = f(true, ...)
    if ticket == false then error(name .. ": " .. tostring(a), 2) end
    -- Known without asking the database.
    if ticket == true then return a, b end
    return await(ticket)
  end
  local r = pack(f(false, ...))
  if r[1] == false then error(name .. ": " .. tostring(r[2]), 2) end
  return unpack(r, 1, r.n)
end

local Db = {}
Db.__index = Db
Db.__name = "flutter.db"

local function handle(self, name)
  local h = handles[self]
  if h == nil then error(name .. ": call it as a method (db:" .. name:match("[^:]*$") .. "(...))", 3) end
  return h
end

-- db:query(sql, ...) -> array of rows (tables by column name) | nil, message
function Db:query(sql, ...)
  return call("db:query", native.query, handle(self, "db:query"), sql, select("#", ...), ...)
end

-- db:exec(sql, ...) -> number of rows changed | nil, message
function Db:exec(sql, ...)
  return call("db:exec", native.exec, handle(self, "db:exec"), sql, select("#", ...), ...)
end

-- db:save(collection, record) -> id | nil, message; sets record.id on insert
function Db:save(name, record)
  return call("db:save", native.save, handle(self, "db:save"), name, record)
end

-- db:get(collection, id) -> record | nil (none) | nil, message
function Db:get(name, id)
  return call("db:get", native.get, handle(self, "db:get"), name, id)
end

-- db:find(collection, filter, { order =, limit =, offset = }) -> array of records | nil, message
function Db:find(name, filter, options)
  return call("db:find", native.find, handle(self, "db:find"), name, filter, options)
end

-- db:count(collection, filter) -> number | nil, message
function Db:count(name, filter)
  return call("db:count", native.count, handle(self, "db:count"), name, filter)
end

-- db:delete(collection, filter | id) -> number deleted | nil, message
function Db:delete(name, filter)
  return call("db:delete", native.delete, handle(self, "db:delete"), name, filter)
end

-- db:transaction(function(tx) ... end): commits when the function returns
-- (its results, or true when it returns none), rolls back and raises the
-- error again when it fails; nil, message when BEGIN or COMMIT fails.
-- Inside, tx:transaction(...) nests with a savepoint.
function Db:transaction(fn)
  local h = handle(self, "db:transaction")
  if type(fn) ~= "function" then
    error("db:transaction: expected a function, got " .. type(fn), 2)
  end
  local tx, err = call("db:transaction", native.begin, h)
  if not tx then return nil, err end
  local obj = setmetatable({}, Db)
  handles[obj] = tx
  local r = pack(pcall(fn, obj))
  if r[1] then
    local ok, cerr = call("db:transaction", native.commit, tx)
    if not ok then return nil, cerr end
    if r.n == 1 then return true end
    return unpack(r, 2, r.n)
  end
  call("db:transaction", native.rollback, tx)
  error(r[2], 0)
end

local db = {}

-- flutter.db.open(url): a database object; connects on first use.
function db.open(url)
  if type(url) ~= "string" then
    error("flutter.db.open: bad argument #1 (url): expected a string, got " .. type(url), 2)
  end
  local h, msg = native.open(url)
  if h == false then error("flutter.db.open: " .. tostring(msg), 2) end
  local obj = setmetatable({}, Db)
  handles[obj] = h
  return obj
end

return db
