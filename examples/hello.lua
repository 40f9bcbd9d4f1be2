-- The smallest flutter app: `flutter examples/hello.lua`, then open http://localhost:8080/
return function(req)
  return "Hello, World!"
end
