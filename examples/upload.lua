-- Reads an upload as a stream with req:read, without the server buffering it:
-- `curl -T bigfile localhost:8080/` answers with the byte count.
return function(req)
  local total = 0
  while true do
    local chunk = req:read(65536)
    if chunk == nil then break end
    total = total + #chunk
  end
  return { headers = { ["content-type"] = "text/plain" }, body = total .. " bytes\n" }
end
