-- The /work handler's work, shared word for word by flutter and nginx+Lua:
-- n JSON items {"id":i,"name":"item<i>"} built in a table, joined with
-- table.concat into {"n":n,"items":[...]}.
return function(n)
  local items = {}
  for i = 1, n do
    items[i] = '{"id":' .. i .. ',"name":"item' .. i .. '"}'
  end
  return '{"n":' .. n .. ',"items":[' .. table.concat(items, ",") .. "]}"
end
