-- The README example's script: the C handler answers /hello, Lua the rest.
return function(req)
  return "lua answered " .. req.method .. " " .. req.path
end
