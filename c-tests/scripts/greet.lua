-- Uses the C module `greet` (lua_c_module.c).
local greet = require "greet"

return function(req)
  if req.path == "/bad" then
    return tostring(greet.add("not a number", 1))
  end
  return greet.hello(req.args.name or "world") .. " " .. greet.add(40, 2)
end
