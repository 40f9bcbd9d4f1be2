-- flutter's side of the benchmark: "/" is the hello handler, "/work?n=N" the
-- handler doing work (bench/lua/work.lua, the same code nginx runs).
local work = require "benchwork"

return function(req)
  if req.path == "/work" then
    return { headers = { ["content-type"] = "application/json" }, body = work(tonumber(req.args.n) or 100) }
  end
  return "Hello, World!"
end
