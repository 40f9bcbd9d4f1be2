-- A syntax error on line 3: errors.c expects "bad.lua:3:".
return function(req)
  local x = = 1
  return "unreachable"
end
