-- The classic Flutter 0.3 example, unchanged in style: a global onRequest
-- that walks the request table and shows it back as HTML.

function fmtTable(t, indent)
  indent = indent or ""
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  local out = ""
  for _, k in ipairs(keys) do
    local v = t[k]
    if v == nil then v = t[tonumber(k)] end
    if type(v) == "table" then
      out = out .. indent .. k .. ":\n" .. fmtTable(v, indent .. "  ")
    else
      out = out .. indent .. k .. " = " .. tostring(v) .. "\n"
    end
  end
  return out
end

local function escape(s)
  return (s:gsub("[&<>\"]", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;" }))
end

function onRequest(req)
  return {
    head = { mimetype = "text/html" },
    body = "<html><body><p>Hello from Flutter! here are the headers you sent me:</p><pre>"
      .. escape(fmtTable(req.headers))
      .. "</pre><p>and the whole request:</p><pre>"
      .. escape(fmtTable(req))
      .. "</pre></body></html>",
  }
end
