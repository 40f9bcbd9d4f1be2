-- A small JSON API: GET /items lists, POST /items adds (JSON body), GET /slow sleeps
-- without blocking other requests.
local flutter = require "flutter"
local items = {}

return function(req)
  if req.path == "/items" and req.method == "GET" then
    return { json = setmetatable(items, flutter.json.array_mt) }
  elseif req.path == "/items" and req.method == "POST" then
    if type(req.json) ~= "table" or type(req.json.name) ~= "string" then
      return { status = 422, json = { error = "expected {\"name\": \"...\"}" } }
    end
    local item = { id = #items + 1, name = req.json.name }
    items[#items + 1] = item
    return { status = 201, headers = { location = "/items/" .. item.id }, json = item }
  elseif req.path == "/slow" then
    flutter.sleep(tonumber(req.args.s) or 0.1)
    return { json = { slept = tonumber(req.args.s) or 0.1 } }
  end
  return { status = 404, json = { error = "not found", path = req.path } }
end
