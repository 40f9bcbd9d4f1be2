-- Sessions, the Lua side of lua/session.rs. `req.session` is loaded on first
-- use (the prelude's req metatable calls `load`) and saved after the handler
-- returns (`save`), which adds the cookie to the response when the session
-- changed. A bad, expired or unknown cookie gives a fresh, empty session and
-- one log line.
local native, await, encode, decode = ...
local type, pairs, next, error, tostring, pcall = type, pairs, next, error, tostring, pcall
local setmetatable, rawget, rawset = setmetatable, rawget, rawset

-- The server's settings, read at first use (a state gets them after it loads).
local NAME, MAX_AGE, DB
local function settings()
  if NAME == nil then
    NAME, MAX_AGE, DB = native.cookie_name(), native.max_age(), native.kind() == "db"
  end
end

-- req -> { id =, json =, had_cookie =, refresh =, regenerated = }
local states = setmetatable({}, { __mode = "k" })
-- session table -> its request
local owners = setmetatable({}, { __mode = "k" })

local methods = {}
local session_mt = { __index = methods, __name = "flutter.session" }

-- What the prelude calls. `touched` counts the sessions opened in this state
-- (and `req.session` assignments, see the prelude's req metatable): a request
-- that saw it unchanged did not touch its session, without asking `used`.
local hooks = { touched = 0 }

-- Reads the cookie: the state and the session's data.
local function open(req)
  settings()
  local st = { json = "{}" }
  states[req] = st
  hooks.touched = hooks.touched + 1
  local value = req.cookies[NAME]
  local data
  if value ~= nil then
    st.had_cookie = true
    -- The natives log why a cookie is refused.
    local text, extra
    if DB then
      local ticket = native.fetch(value, req.remote_addr)
      if ticket then text, extra = await(ticket) end
      if text then st.id = value end
    else
      text, extra = native.verify(value, req.remote_addr)
    end
    if text then
      local ok, d = pcall(decode, text)
      if ok and type(d) == "table" then
        data, st.json, st.refresh = d, text, extra
      else
        native.log("warn", req.remote_addr, "session data is not a JSON object; starting a new session")
      end
    end
  end
  if data == nil then data = {} end
  return st, data
end

local function load(req)
  local st, data = open(req)
  setmetatable(data, session_mt)
  owners[data] = req
  -- What the handler first sees, encoded the way `save` will encode it.
  st.json = encode(data)
  rawset(req, "session", data)
  return data
end

local function attributes(req, max_age)
  return {
    path = "/",
    http_only = true,
    same_site = "Lax",
    secure = req.scheme == "https",
    max_age = max_age,
    -- A cookie being removed gets a date in the past as well.
    expires = max_age > 0 and native.now() + max_age or 0,
  }
end

-- A copy of the response with one more Set-Cookie (the handler's table may be
-- shared between requests, so it is never changed).
local function add_cookie(res, cookie)
  if type(res) == "string" then
    return { body = res, headers = { ["set-cookie"] = cookie } }
  end
  if type(res) ~= "table" then return res end
  local copy = {}
  for k, v in pairs(res) do copy[k] = v end
  local headers = {}
  if type(copy.headers) == "table" then
    for k, v in pairs(copy.headers) do headers[k] = v end
  elseif copy.headers ~= nil then
    return res
  end
  local prev = headers["set-cookie"]
  if prev == nil then
    headers["set-cookie"] = cookie
  elseif type(prev) == "table" then
    local list = {}
    for i = 1, #prev do list[i] = prev[i] end
    list[#list + 1] = cookie
    headers["set-cookie"] = list
  else
    headers["set-cookie"] = { prev, cookie }
  end
  copy.headers = headers
  return copy
end

local function check(ok, err)
  if ok == nil then error("session: " .. tostring(err), 0) end
  return ok
end

local function save(req, res)
  local st = states[req]
  local data = rawget(req, "session")
  if st == nil then
    if data == nil then return res end
    -- Assigned without being read: it replaces whatever the cookie held.
    st = open(req)
    st.regenerated = true
  end
  if data ~= nil and type(data) ~= "table" then
    error("req.session must be a table, not a " .. type(data), 0)
  end
  if data == nil or next(data) == nil then
    -- Empty or destroyed: forget it.
    if not st.had_cookie then return res end
    if DB and st.id then check(await(native.remove(st.id))) end
    return add_cookie(res, native.cookie(NAME, "", attributes(req, 0)))
  end
  local text = encode(data)
  if text == st.json and not st.refresh and not st.regenerated then return res end
  local value
  if DB then
    local old = st.id
    value = old
    if value == nil or st.regenerated then value = native.new_id() end
    check(await(native.put(value, old ~= value and old or nil, text)))
  else
    value = check(native.sign(text))
  end
  return add_cookie(res, native.cookie(NAME, value, attributes(req, MAX_AGE)))
end

-- Which request a session argument is about: the request, or its session.
local function request_of(x, name)
  if type(x) == "table" then
    if owners[x] then return owners[x] end
    if type(rawget(x, "method")) == "string" and type(rawget(x, "path")) == "string" then return x end
  end
  error("flutter.session." .. name .. ": expected the request (or req.session), got " .. type(x), 3)
end

local session = {}

-- Ends the session: its data is cleared and its cookie removed (what the
-- handler stores afterwards goes into a new session with a new id).
local function state_of(req)
  local data = req.session
  local st = states[req]
  if st == nil then
    st = open(req)
    st.regenerated = true
  end
  return st, data
end

function session.destroy(x)
  local st, data = state_of(request_of(x, "destroy"))
  for k in pairs(data) do data[k] = nil end
  st.regenerated = true
end

-- Gives the session a new id (call it on login): the data stays, the cookie
-- changes, and the old id is no longer valid.
function session.regenerate(x)
  local st = state_of(request_of(x, "regenerate"))
  st.regenerated = true
end

methods.destroy = session.destroy
methods.regenerate = session.regenerate

-- flutter.cookie(name, value, { path =, domain =, max_age =, expires =,
-- http_only =, secure =, same_site =, partitioned = }): a Set-Cookie value.
local function cookie(name, value, options)
  if type(value) == "number" then value = tostring(value) end
  local text, err = native.cookie(name, value, options)
  if text == nil then error("flutter.cookie: " .. tostring(err), 2) end
  return text
end

-- Whether the request touched its session (most never do: nothing to save).
local function used(req)
  return states[req] ~= nil or rawget(req, "session") ~= nil
end

hooks.load, hooks.save, hooks.used = load, save, used
return hooks, session, cookie
