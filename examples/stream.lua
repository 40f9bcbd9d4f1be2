-- A streamed response: the body function is called until it returns nil,
-- and may sleep in between; other requests go on meanwhile.
local flutter = require "flutter"

return function(req)
  local n = tonumber(req.args.n) or 5
  local i = 0
  return {
    headers = { ["content-type"] = "text/plain" },
    body = function()
      i = i + 1
      if i > n then return nil end
      if i > 1 then flutter.sleep(0.05) end
      return "line " .. i .. "\n"
    end,
  }
end
