-- Served from a file by serve_script_file.c.
return function(req)
  if req.path == "/json" then
    return { json = { method = req.method, name = req.args.name } }
  end
  return { status = 200, headers = { ["x-from"] = "lua file" }, body = "hello " .. req.path }
end
