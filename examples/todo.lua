-- A to-do list with a login: an HTML page and a JSON API over one table.
--
--   flutter examples/todo.lua                          SQLite: todo.db beside this file
--   TODO_DB=postgres://user@host:5432/db flutter examples/todo.lua
--
-- The session (who is logged in) is a signed cookie; see "Data" in README.md.
-- JSON API, for the logged-in user:
--   GET /api/todos             the list
--   POST /api/todos            {"title": "..."} -> 201 and the new item
--   PATCH /api/todos/ID        {"title": "...", "done": true}
--   DELETE /api/todos/ID
local flutter = require "flutter"
local esc = flutter.escape_html

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local db = flutter.db.open(os.getenv("TODO_DB") or ("sqlite:" .. here .. "todo.db"))

local function item(t)
  return { id = t.id, title = t.title, done = t.done, owner = t.owner }
end

local function redirect(to)
  return { status = 303, headers = { location = to }, body = "" }
end

local function fail(status, message)
  return { status = status, json = { error = message } }
end

local function valid_title(t)
  return type(t) == "string" and #t > 0 and #t <= 200
end

-- The user's item `id`, or nil.
local function owned(user, id)
  local t = db:get("todos", id)
  if t and t.owner == user then return t end
end

local function page(user, todos)
  local out = { [[<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>To do</title>
<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}.done{text-decoration:line-through}form{display:inline}</style>
</head><body><h1>To do</h1>]] }
  local function add(s) out[#out + 1] = s end
  if not user then
    add([[<form method="post" action="/login"><label>Name <input name="user" required pattern="[A-Za-z0-9_.-]{1,40}"></label>
<button>login</button></form>]])
  else
    add("<p>Logged in as <b>" .. esc(user) .. '</b> <form method="post" action="/logout"><button>logout</button></form></p><ul>')
    for _, t in ipairs(todos) do
      add(('<li class="%s">%s <form method="post" action="/todos/%d/toggle"><button>%s</button></form>' ..
        ' <form method="post" action="/todos/%d/delete"><button>delete</button></form></li>'):format(
        t.done and "done" or "", esc(t.title), t.id, t.done and "undo" or "done", t.id))
    end
    add('</ul><form method="post" action="/todos"><input name="title" required maxlength="200"> <button>add</button></form>')
  end
  add("</body></html>")
  return table.concat(out, "\n")
end

local function api(req, user)
  local id = req.path:match("^/api/todos/(%d+)$")
  if req.path == "/api/todos" and req.method == "GET" then
    local list = setmetatable({}, flutter.json.array_mt)
    for i, t in ipairs(assert(db:find("todos", { owner = user }, { order = "id" }))) do list[i] = item(t) end
    return { json = list }
  elseif req.path == "/api/todos" and req.method == "POST" then
    local body = req.json
    if type(body) ~= "table" or not valid_title(body.title) then
      return fail(400, "send {\"title\": \"...\"} (1 to 200 characters)")
    end
    local t = { title = body.title, done = false, owner = user }
    assert(db:save("todos", t))
    return { status = 201, json = item(t) }
  elseif id and (req.method == "PATCH" or req.method == "DELETE") then
    local t = owned(user, id)
    if not t then return fail(404, "no such item") end
    if req.method == "DELETE" then
      return { json = { deleted = assert(db:delete("todos", t.id)) } }
    end
    local body = req.json
    if type(body) ~= "table" then return fail(400, "send a JSON object") end
    if body.title ~= nil then
      if not valid_title(body.title) then return fail(400, "title: 1 to 200 characters") end
      t.title = body.title
    end
    if body.done ~= nil then
      if type(body.done) ~= "boolean" then return fail(400, "done: true or false") end
      t.done = body.done
    end
    assert(db:save("todos", t))
    return { json = item(t) }
  end
  return fail(404, "no such endpoint")
end

return function(req)
  local user = req.session.user
  if req.path:sub(1, 5) == "/api/" then
    if not user then return fail(401, "log in first") end
    return api(req, user)
  end
  if req.method == "GET" and req.path == "/" then
    local todos = user and assert(db:find("todos", { owner = user }, { order = "id" })) or {}
    return page(user, todos)
  end
  if req.method ~= "POST" then return { status = 404, body = "not found" } end
  if req.path == "/login" then
    local name = req.form.user
    if type(name) ~= "string" or not name:match("^[%w_.-]+$") or #name > 40 then
      return { status = 400, body = "a name is 1 to 40 letters, digits, _ . or -" }
    end
    -- A new id on login, so a session id planted before it is worth nothing.
    req.session:regenerate()
    req.session.user = name
    return redirect("/")
  elseif req.path == "/logout" then
    req.session:destroy()
    return redirect("/")
  elseif not user then
    return redirect("/")
  elseif req.path == "/todos" then
    local title = req.form.title
    if valid_title(title) then assert(db:save("todos", { title = title, done = false, owner = user })) end
    return redirect("/")
  end
  local id, action = req.path:match("^/todos/(%d+)/(%a+)$")
  local t = id and owned(user, id)
  if t and action == "toggle" then
    t.done = not t.done
    assert(db:save("todos", t))
  elseif t and action == "delete" then
    assert(db:delete("todos", t.id))
  end
  return redirect("/")
end
