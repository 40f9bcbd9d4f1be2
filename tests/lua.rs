//! The Lua side of the contract (DESIGN.md, "The script contract" and
//! "Failure is contained"), proven over real sockets against the real binary.
mod common;
use common::*;

use serde_json::{json, Value as Json};
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Lua helpers prepended to scripts that echo bytes back hex-encoded.
const HEX: &str = r#"
local function hex(s)
  if s == nil then return nil end
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end
"#;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Sends one raw request on a fresh connection and reads one response.
fn send(s: &Server, request: &[u8]) -> Resp {
    let mut c = s.connect();
    c.write_all(request).unwrap();
    read_response(&mut c)
}

fn get(s: &Server, target: &str) -> Resp {
    send(
        s,
        format!("GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

fn post(s: &Server, target: &str, content_type: &str, body: &[u8]) -> Resp {
    let mut req = format!(
        "POST {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    send(s, &req)
}

fn json_of(r: &Resp) -> Json {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", r.text()))
}

/// Resident memory of a process in KiB (0 once it is gone).
fn rss_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Samples a process's RSS every 20 ms while `f` runs; (f's result, peak KiB).
fn peak_rss_during<T>(pid: u32, f: impl FnOnce() -> T) -> (T, u64) {
    let done = AtomicBool::new(false);
    let peak = AtomicU64::new(rss_of(pid));
    let out = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss_of(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let out = f();
        done.store(true, Ordering::Relaxed);
        out
    });
    peak.fetch_max(rss_of(pid), Ordering::Relaxed);
    (out, peak.load(Ordering::Relaxed))
}

/// Asserts that the server's log comes to hold `needle` within 2 s.
fn assert_logged(s: &Server, needle: &str) {
    assert!(
        eventually(Duration::from_secs(2), || s.stderr().contains(needle)),
        "{}",
        s.stderr()
    );
}

/// Waits up to `within` for `cond`.
fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs flutter on `script` and expects it to exit on its own: (exit code, stderr).
fn run_to_exit(script: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_flutter"))
        .args(["--listen", "127.0.0.1:0", "--workers", "1"])
        .args(args)
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn flutter");
    let end = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > end {
            let _ = child.kill();
            panic!("flutter kept running on {}", script.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// ---------------------------------------------------------------- responses

#[test]
fn flutter_03_on_request_with_head_table() {
    let s = Server::start(
        r#"
function onRequest(req)
  return { head = { mimetype = "text/plain", status = 201, ["x-a"] = "1" }, body = "made " .. req.path }
end
"#,
        &[],
    );
    let r = get(&s, "/thing");
    assert_eq!(r.status, 201);
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("x-a"), Some("1"));
    assert_eq!(r.text(), "made /thing");
}

#[test]
fn returned_function_and_string_response() {
    let s = Server::start(
        "-- no onRequest here\nreturn function(req) return '<p>hi</p>' end\n",
        &[],
    );
    let r = get(&s, "/");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.text(), "<p>hi</p>");
}

#[test]
fn req_kept_past_its_request_is_refused_clearly() {
    // A handler that keeps `req` in a global and reads a field built on first
    // use during a later request: that request is over, so the read fails.
    let s = Server::start(
        r#"local kept
return function(req)
  if req.path == "/keep" then kept = req return "kept" end
  local ok, err = pcall(function() return kept.headers end)
  return tostring(ok) .. " " .. tostring(err):match("req was used after its request ended")
end
"#,
        &["--workers", "1"],
    );
    assert_eq!(get(&s, "/keep").text(), "kept");
    let r = get(&s, "/later");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "false req was used after its request ended");
}

#[test]
fn table_response_with_status_headers_and_multi_value_header() {
    let s = Server::start(
        r#"
return function(req)
  return {
    status = 202,
    headers = { ["content-type"] = "text/plain", ["x-one"] = "1", ["set-cookie"] = { "a=1", "b=2" } },
    body = "accepted",
  }
end
"#,
        &[],
    );
    let r = get(&s, "/");
    assert_eq!(r.status, 202);
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("x-one"), Some("1"));
    let cookies: Vec<&str> = r
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(cookies, ["a=1", "b=2"], "{:?}", r.headers);
    assert_eq!(r.text(), "accepted");
}

/// The common table answer is read straight off the coroutine's stack; every
/// other form, and any invalid field, goes the general way. Both must agree.
#[test]
fn table_answers_of_every_shape_give_the_same_response() {
    let s = Server::start(
        r#"
local answers = {
  ["/common"] = function() return { status = 201, headers = { ["X-A"] = "1" }, body = "made" } end,
  ["/at-limit"] = function() return { body = string.rep("a", 4096) } end,
  ["/over-limit"] = function() return { headers = { ["content-type"] = "text/plain" }, body = string.rep("b", 5000) } end,
  ["/number-header"] = function() return { headers = { ["x-n"] = 5 }, body = "n" } end,
  ["/other-keys"] = function() return { body = "x", extra = true, [1] = "ignored" } end,
  ["/status-only"] = function() return { status = 404 } end,
  ["/status-string"] = function() return { status = "203", body = "s" } end,
  ["/status-fraction"] = function() return { status = 201.5 } end,
  ["/status-range"] = function() return { status = 99 } end,
}
return function(req) return answers[req.path]() end
"#,
        &[],
    );
    let r = get(&s, "/common");
    assert_eq!((r.status, r.text().as_str()), (201, "made"));
    assert_eq!(r.header("x-a"), Some("1"));
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(get(&s, "/at-limit").text(), "a".repeat(4096));
    let r = get(&s, "/over-limit");
    assert_eq!(r.text(), "b".repeat(5000));
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(get(&s, "/number-header").header("x-n"), Some("5"));
    assert_eq!(get(&s, "/other-keys").text(), "x");
    let r = get(&s, "/status-only");
    assert_eq!((r.status, r.header("content-length")), (404, Some("0")));
    assert_eq!(get(&s, "/status-string").status, 203);
    for path in ["/status-fraction", "/status-range"] {
        assert_eq!(get(&s, path).status, 500, "{path}");
    }
    assert_logged(&s, "invalid status 99");
    assert_logged(&s, "invalid status 201.5: must be a whole number");
}

#[test]
fn json_response() {
    let s = Server::start(
        r#"
return function(req)
  return { status = 200, json = { ok = true, n = 42, list = { 1, 2, 3 }, nested = { name = "x<y" } } }
end
"#,
        &[],
    );
    let r = get(&s, "/");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        json_of(&r),
        json!({ "ok": true, "n": 42, "list": [1, 2, 3], "nested": { "name": "x<y" } })
    );
}

#[test]
fn streamed_body_function_yields_between_chunks() {
    let s = Server::start(
        r#"
return function(req)
  local parts = { "one ", "two ", "three" }
  local i = 0
  return {
    headers = { ["content-type"] = "text/plain" },
    body = function()
      i = i + 1
      if i > 1 and i <= #parts then flutter.sleep(0.2) end
      return parts[i]
    end,
  }
end
"#,
        &[],
    );
    let mut c = s.connect();
    let started = Instant::now();
    c.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let r = read_response(&mut c);
    let took = started.elapsed();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.text(), "one two three");
    assert!(took >= Duration::from_millis(400), "took {took:?}");
    // While one stream sleeps, other requests are served.
    let mut c2 = s.connect();
    c2.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let r2 = read_response(&mut c2);
    assert_eq!(r2.text(), "one two three");
}

#[test]
fn response_headers_from_lua_cannot_break_framing() {
    let s = Server::start(
        r#"
return function(req)
  if req.path == "/crlf" then
    return { headers = { ["x-evil"] = "a\r\nSet-Cookie: pwned=1" }, body = "x" }
  elseif req.path == "/name" then
    return { headers = { ["bad name"] = "v" }, body = "x" }
  elseif req.path == "/number-name" then
    return { headers = { [1] = "v" }, body = "x" }
  elseif req.path == "/head-number-name" then
    return { head = { [1] = "v" }, body = "x" }
  end
  return "ok"
end
"#,
        &[],
    );
    for path in ["/crlf", "/name", "/number-name", "/head-number-name"] {
        let raw = s
            .raw(format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes());
        let text = String::from_utf8_lossy(&raw);
        assert!(text.starts_with("HTTP/1.1 500"), "{path}: {text}");
        assert!(!text.to_lowercase().contains("pwned"), "{path}: {text}");
    }
    assert_eq!(get(&s, "/").text(), "ok");
}

#[test]
fn streamed_body_that_fails_midway_cuts_the_response() {
    let s = Server::start(
        r#"
return function(req)
  local n = 0
  return { body = function()
    n = n + 1
    if n == 1 then return "first part;" end
    if n == 2 then return 2.5 end
    error("producer broke")
  end }
end
"#,
        &[],
    );
    let raw = s.raw(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("first part;"), "{text}");
    // A number is sent as Lua writes it.
    assert!(text.contains("3\r\n2.5\r\n"), "{text}");
    // No last chunk: the client can tell the body is incomplete.
    assert!(!text.ends_with("0\r\n\r\n"), "{text}");
    assert_logged(&s, "producer broke");
}

// ---------------------------------------------------------------- req

#[test]
fn request_fields() {
    let s = Server::start(
        r#"
return function(req)
  return { json = {
    method = req.method, path = req.path, query = req.query, args = req.args,
    custom = req.headers["x-custom-header"], upper = req.headers["X-Custom-Header"] or "absent",
    host = req.headers.host, cookies = req.cookies,
    remote_addr = req.remote_addr, remote_port = req.remote_port,
    version = req.version, scheme = req.scheme, id = req.id,
  } }
end
"#,
        &[],
    );
    let mut c = s.connect();
    let local_port = c.local_addr().unwrap().port();
    c.write_all(
        b"PATCH /a%20b/%C3%A9t%C3%A9?x=1&tag=a&tag=b+c&tag=%26&e= HTTP/1.1\r\nHost: example.test\r\n\
          X-Custom-Header: Some Value\r\nCookie: sid=abc123; theme=dark\r\n\r\n",
    )
    .unwrap();
    let first = json_of(&read_response(&mut c));
    assert_eq!(first["method"], "PATCH");
    assert_eq!(first["path"], "/a b/été");
    assert_eq!(first["query"], "x=1&tag=a&tag=b+c&tag=%26&e=");
    assert_eq!(
        first["args"],
        json!({ "x": "1", "tag": ["a", "b c", "&"], "e": "" })
    );
    assert_eq!(first["custom"], "Some Value");
    assert_eq!(first["upper"], "absent");
    assert_eq!(first["host"], "example.test");
    assert_eq!(
        first["cookies"],
        json!({ "sid": "abc123", "theme": "dark" })
    );
    assert_eq!(first["remote_addr"], "127.0.0.1");
    assert_eq!(first["remote_port"], local_port);
    assert_eq!(first["version"], "1.1");
    assert_eq!(first["scheme"], "http");
    assert!(first["id"].is_u64(), "{first}");
    // A second request on the same connection gets another id.
    c.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let second = json_of(&read_response(&mut c));
    assert_eq!(second["method"], "GET");
    assert!(second["id"].is_u64());
    assert_ne!(first["id"], second["id"]);
    // HTTP/1.0 is reported as such.
    let old = json_of(&send(&s, b"GET / HTTP/1.0\r\n\r\n"));
    assert_eq!(old["version"], "1.0");
}

#[test]
fn binary_bytes_reach_lua_intact() {
    let s = Server::start(
        &format!(
            r#"{HEX}
return function(req)
  return {{ json = {{ v = hex(req.args.v), path = hex(req.path), bin = hex(req.headers["x-bin"]), query = req.query }} }}
end
"#
        ),
        &[],
    );
    let mut req =
        b"GET /p%00%FF?v=%00a%80%ff%00 HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Bin: "
            .to_vec();
    let header_value: Vec<u8> = [0x80u8, 0x81, 0xc3, 0x28, 0xfe, 0xff, b'z'].to_vec();
    req.extend_from_slice(&header_value);
    req.extend_from_slice(b"\r\n\r\n");
    let r = send(&s, &req);
    assert_eq!(r.status, 200, "{}", r.text());
    let j = json_of(&r);
    assert_eq!(j["v"], hex(&[0, b'a', 0x80, 0xff, 0]));
    assert_eq!(j["path"], hex(b"/p\0\xff"));
    assert_eq!(j["bin"], hex(&header_value));
    assert_eq!(j["query"], "v=%00a%80%ff%00");

    // A raw NUL in a field value is refused (RFC 9110 §5.5) before any handler runs.
    let r = s.raw(b"GET / HTTP/1.1\r\nHost: t\r\nX-Bin: a\0b\r\n\r\n");
    assert!(
        r.starts_with(b"HTTP/1.1 400"),
        "{:?}",
        String::from_utf8_lossy(&r)
    );
}

// ---------------------------------------------------------------- bodies

#[test]
fn urlencoded_form() {
    let s = Server::start(
        r#"return function(req) return { json = { form = req.form, body = req.body } } end"#,
        &[],
    );
    let body = b"name=Ada+Lovelace&lang=lua&lang=rust&sym=%26%3D%25&empty=";
    let r = post(&s, "/", "application/x-www-form-urlencoded", body);
    assert_eq!(r.status, 200, "{}", r.text());
    let j = json_of(&r);
    assert_eq!(
        j["form"],
        json!({ "name": "Ada Lovelace", "lang": ["lua", "rust"], "sym": "&=%", "empty": "" })
    );
    assert_eq!(j["body"], std::str::from_utf8(body).unwrap());
}

/// One multipart part: field name, (filename, content type) for a file, content.
type Part<'a> = (&'a str, Option<(&'a str, &'a str)>, &'a [u8]);

fn multipart_body(boundary: &str, parts: &[Part]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, file, data) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file {
            Some((filename, ctype)) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: {ctype}\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    body
}

#[test]
fn multipart_fields_and_file() {
    let s = Server::start(
        &format!(
            r#"{HEX}
return function(req)
  local f = req.files.doc
  return {{ json = {{
    title = req.form.title, tags = req.form.tag,
    file = {{ name = f.name, type = f.type, size = f.size, data = hex(f.data), path = f.path or "none" }},
    same = (req.form.doc == f),
  }} }}
end
"#
        ),
        &[],
    );
    // curl, a real client, builds the body.
    let data: Vec<u8> = (0..=255u8).chain(*b"\r\n--not-a-boundary\r\n").collect();
    let file = s.dir.join("report.bin");
    std::fs::write(&file, &data).unwrap();
    let (code, out) = curl(&[
        "-F",
        "title=Quarterly report",
        "-F",
        "tag=a",
        "-F",
        "tag=b",
        "-F",
        &format!("doc=@{};type=application/x-test", file.display()),
        &s.url("/upload"),
    ]);
    assert_eq!(code, 0);
    let j: Json = serde_json::from_slice(&out)
        .unwrap_or_else(|_| panic!("{:?}", String::from_utf8_lossy(&out)));
    assert_eq!(j["title"], "Quarterly report");
    assert_eq!(j["tags"], json!(["a", "b"]));
    assert_eq!(j["file"]["name"], "report.bin");
    assert_eq!(j["file"]["type"], "application/x-test");
    assert_eq!(j["file"]["size"], data.len());
    assert_eq!(j["file"]["data"], hex(&data));
    assert_eq!(j["file"]["path"], "none");
    assert_eq!(j["same"], true);
}

#[test]
fn multipart_large_file_is_spooled_to_a_path_removed_after() {
    let s = Server::start(
        r#"
return function(req)
  local f = req.files.big
  local fh = assert(io.open(f.path, "rb"))
  local content = fh:read("a")
  fh:close()
  return {
    headers = { ["x-path"] = f.path, ["x-size"] = f.size, ["x-data"] = tostring(f.data),
                ["x-body-path"] = req.body_path or "none", ["x-note"] = req.form.note },
    body = content,
  }
end
"#,
        &[],
    );
    let content: Vec<u8> = (0..200_000u32).map(|i| (i * 31 % 251) as u8).collect();
    let body = multipart_body(
        "XyZzY0123",
        &[
            ("note", None, b"hello"),
            (
                "big",
                Some(("big.dat", "application/octet-stream")),
                &content,
            ),
        ],
    );
    let r = post(&s, "/", "multipart/form-data; boundary=XyZzY0123", &body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-size"), Some("200000"));
    assert_eq!(r.header("x-data"), Some("nil"));
    assert_eq!(r.header("x-note"), Some("hello"));
    assert!(r.body == content, "spooled file content differs");
    let path = r.header("x-path").unwrap().to_string();
    assert!(
        eventually(Duration::from_secs(2), || !Path::new(&path).exists()),
        "uploaded file {path} still exists after the request"
    );
    // The whole body was larger than the memory buffer, so it was spooled too;
    // that file goes with the request as well.
    let body_path = r.header("x-body-path").unwrap().to_string();
    assert_ne!(body_path, "none");
    assert!(
        eventually(Duration::from_secs(2), || !Path::new(&body_path).exists()),
        "spooled body {body_path} still exists after the request"
    );
}

#[test]
fn body_fields_are_filled_in_once() {
    let s = Server::start(
        r#"
return function(req)
  local f = req.files.doc
  req.form.extra = "kept"
  local _ = req.json, req.body_path -- nil for this request
  return tostring(f == req.files.doc) .. " " .. tostring(req.form.extra)
end
"#,
        &[],
    );
    let small = multipart_body(
        "b0undary",
        &[("doc", Some(("a.txt", "text/plain")), b"hello")],
    );
    let r = post(&s, "/", "multipart/form-data; boundary=b0undary", &small);
    assert_eq!(r.text(), "true kept");
    // The same when the body arrives after the handler started.
    let big = vec![b'q'; 300_000];
    let large = multipart_body(
        "b0undary",
        &[("doc", Some(("b.bin", "application/octet-stream")), &big)],
    );
    let r = post(&s, "/", "multipart/form-data; boundary=b0undary", &large);
    assert_eq!(r.text(), "true kept");
}

#[test]
fn json_body() {
    let s = Server::start(
        r#"
return function(req)
  local j = req.json
  return { json = { name = j.name, second = j.items[2], count = #j.items, null_is_sentinel = (j.gone == flutter.json.null) } }
end
"#,
        &[],
    );
    let r = post(
        &s,
        "/",
        "application/json; charset=utf-8",
        br#"{"name":"caf\u00e9","items":[10,20,30],"gone":null}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        json_of(&r),
        json!({ "name": "café", "second": 20, "count": 3, "null_is_sentinel": true })
    );
}

#[test]
fn malformed_json_body_is_400_without_running_the_handler() {
    let s = Server::start(
        r#"
local hits = 0
return function(req)
  if req.path == "/hits" then return tostring(hits) end
  hits = hits + 1
  flutter.log("SIDE-EFFECT-RAN")
  return { json = { got = req.json } }
end
"#,
        &[],
    );
    let r = post(&s, "/", "application/json", br#"{"unterminated": [1, 2"#);
    assert_eq!(r.status, 400);
    assert!(!r.text().contains("unterminated"));
    let r = post(&s, "/", "application/json", b"{'single': 1}");
    assert_eq!(r.status, 400);
    assert_eq!(get(&s, "/hits").text(), "0");
    assert!(!s.stderr().contains("SIDE-EFFECT-RAN"), "{}", s.stderr());
    // A good body still works.
    let r = post(&s, "/", "application/json", br#"[1,{"a":null}]"#);
    assert_eq!(json_of(&r), json!({ "got": [1, { "a": null }] }));
}

#[test]
fn malformed_json_body_that_arrives_while_the_handler_waits_is_400() {
    // A body larger than body_buffer_bytes does not hold the handler back:
    // req.json waits for it inside the handler, and its error still says 400.
    let s = Server::start(
        r#"
return function(req)
  local got = req.json
  flutter.log("AFTER-JSON")
  return { json = { got = got } }
end
"#,
        &["--body-buffer-bytes", "1024"],
    );
    let body = format!(r#"{{"unterminated": "{}"#, "x".repeat(3000));
    let mut c = s.connect();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    c.write_all(head.as_bytes()).unwrap();
    c.write_all(&body.as_bytes()[..1500]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    c.write_all(&body.as_bytes()[1500..]).unwrap();
    let r = read_response(&mut c);
    assert_eq!(r.status, 400);
    assert_logged(&s, "malformed JSON body");
    assert!(!s.stderr().contains("AFTER-JSON"), "{}", s.stderr());
}

// ---------------------------------------------------------------- req:read

const READ_COUNTER: &str = r#"
return function(req)
  local n, sum, rest = 0, 0, ""
  while true do
    local chunk = req:read(100000)
    if chunk == nil then break end
    n = n + #chunk
    local buf = rest .. chunk
    local whole = #buf - #buf % 8
    for i = 1, whole, 8 do
      sum = sum * 31 + string.unpack("<i8", buf, i)
    end
    rest = buf:sub(whole + 1)
  end
  return { json = { bytes = n, sum = string.format("%d", sum), rest = #rest } }
end
"#;

/// The same checksum as READ_COUNTER computes.
fn word_checksum(data: &[u8]) -> i64 {
    data.chunks_exact(8).fold(0i64, |s, w| {
        s.wrapping_mul(31)
            .wrapping_add(i64::from_le_bytes(w.try_into().unwrap()))
    })
}

fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn read_upload(chunked: bool) {
    const SIZE: usize = 20 << 20;
    let s = Server::start(
        READ_COUNTER,
        &[
            "--max-body-bytes",
            "50000000",
            "--lua-instruction-limit",
            "0",
        ],
    );
    let data = pattern(SIZE, if chunked { 7 } else { 11 });
    let baseline = s.rss_kib();
    let (r, peak) = peak_rss_during(s.pid(), || {
        let mut c = s.connect();
        c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        if chunked {
            c.write_all(b"POST /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Type: application/octet-stream\r\n\r\n")
                .unwrap();
            for piece in data.chunks(50_000) {
                c.write_all(format!("{:x}\r\n", piece.len()).as_bytes())
                    .unwrap();
                c.write_all(piece).unwrap();
                c.write_all(b"\r\n").unwrap();
            }
            c.write_all(b"0\r\n\r\n").unwrap();
        } else {
            c.write_all(format!("POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: {SIZE}\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes())
                .unwrap();
            for piece in data.chunks(1 << 20) {
                c.write_all(piece).unwrap();
            }
        }
        read_response(&mut c)
    });
    assert_eq!(r.status, 200, "{}", r.text());
    let j = json_of(&r);
    assert_eq!(j["bytes"], SIZE);
    assert_eq!(j["rest"], 0);
    assert_eq!(j["sum"], word_checksum(&data).to_string());
    let grew = peak.saturating_sub(baseline);
    eprintln!("20 MiB read: RSS {baseline} KiB -> peak {peak} KiB");
    assert!(
        grew < 8 << 10,
        "RSS grew by {grew} KiB (from {baseline} KiB to {peak} KiB) reading a {} KiB body",
        SIZE >> 10
    );
}

#[test]
fn read_streams_a_content_length_upload_in_pieces() {
    read_upload(false);
}

#[test]
fn read_streams_a_chunked_upload_in_pieces() {
    read_upload(true);
}

#[test]
fn gib_upload_is_spooled_to_a_temp_file() {
    const MIB: usize = 1 << 20;
    const TOTAL_MIB: usize = 1024;
    let s = Server::start(
        r#"
return function(req)
  local path = req.body_path
  local f = assert(io.open(path, "rb"))
  local size = f:seek("end")
  f:seek("set", 512 * 1048576)
  local mark = f:read(8)
  f:close()
  return { headers = { ["x-path"] = path, ["x-has-body"] = tostring(req.body ~= nil) },
           json = { size = size, mark = string.unpack("<I8", mark) } }
end
"#,
        &["--max-body-bytes", "2000000000"],
    );
    let (r, peak) = peak_rss_during(s.pid(), || {
        let mut c = s.connect();
        c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        c.write_all(
            format!(
                "PUT /big HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
                TOTAL_MIB * MIB
            )
            .as_bytes(),
        )
        .unwrap();
        let mut buf = vec![0xa5u8; MIB];
        for i in 0..TOTAL_MIB {
            // Each MiB starts with its index, so the handler can show it read the right place.
            buf[..8].copy_from_slice(&(i as u64).to_le_bytes());
            c.write_all(&buf).unwrap();
        }
        read_response(&mut c)
    });
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(json_of(&r), json!({ "size": TOTAL_MIB * MIB, "mark": 512 }));
    assert_eq!(r.header("x-has-body"), Some("false"));
    eprintln!("1 GiB upload: server RSS peaked at {peak} KiB");
    assert!(peak < 100 << 10, "server RSS reached {peak} KiB");
    let path = r.header("x-path").unwrap().to_string();
    assert!(
        eventually(Duration::from_secs(2), || !Path::new(&path).exists()),
        "spooled body {path} still exists after the request"
    );
}

// ---------------------------------------------------------------- coroutines

#[test]
fn five_hundred_sleeping_requests_run_concurrently() {
    const N: usize = 500;
    let s = Server::start(
        r#"return function(req) flutter.sleep(1) return "slept " .. req.args.i end"#,
        &["--access-log", "off"],
    );
    let started = Instant::now();
    let ok: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..N)
            .map(|i| {
                let s = &s;
                scope.spawn(move || {
                    let mut c = TcpStream::connect(s.addr).ok()?;
                    c.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
                    c.write_all(format!("GET /?i={i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
                        .ok()?;
                    let r = read_response(&mut c);
                    (r.status == 200 && r.text() == format!("slept {i}")).then_some(())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join())
            .filter(|r| matches!(r, Ok(Some(()))))
            .count()
    });
    let took = started.elapsed();
    assert_eq!(ok, N, "only {ok} of {N} requests succeeded");
    assert!(
        took < Duration::from_secs(10),
        "{N} one-second sleeps took {took:?}"
    );
}

#[test]
fn flutter_operations_work_inside_the_scripts_own_coroutines() {
    let s = Server::start(
        r#"
return function(req)
  if req.path == "/sleep" then
    local gen = coroutine.wrap(function()
      for i = 1, 3 do flutter.sleep(0.2) coroutine.yield(i) end
    end)
    return "got " .. gen() .. gen() .. gen()
  elseif req.path == "/resume" then
    local co = coroutine.create(function(a)
      flutter.sleep(0.1)
      local b = coroutine.yield(a + 1)
      return b * 2
    end)
    local ok1, v1 = coroutine.resume(co, 1)
    local ok2, v2 = coroutine.resume(co, 10)
    return table.concat({ tostring(ok1), v1, tostring(ok2), v2, coroutine.status(co) }, " ")
  elseif req.path == "/read" then
    local n = 0
    for chunk in coroutine.wrap(function()
      while true do
        local c = req:read(1000)
        if c == nil then return end
        coroutine.yield(c)
      end
    end) do n = n + #chunk end
    return "read " .. n
  elseif req.path == "/error" then
    local ok, e = pcall(coroutine.wrap(function() error("inner failure") end))
    return tostring(ok) .. " " .. e
  end
  return "fast"
end
"#,
        &[],
    );
    let started = Instant::now();
    let slow = std::thread::spawn({
        let addr = s.addr;
        move || {
            let mut c = TcpStream::connect(addr).unwrap();
            c.write_all(b"GET /sleep HTTP/1.1\r\nHost: t\r\n\r\n")
                .unwrap();
            read_response(&mut c).text()
        }
    });
    std::thread::sleep(Duration::from_millis(100));
    // The worker serves others while the script's coroutine sleeps.
    assert_eq!(get(&s, "/").text(), "fast");
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(slow.join().unwrap(), "got 123");
    assert!(started.elapsed() >= Duration::from_millis(600));
    assert_eq!(get(&s, "/resume").text(), "true 2 true 20 dead");
    let data = pattern(300_000, 3);
    let mut req =
        b"POST /read HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 300000\r\n\r\n"
            .to_vec();
    req.extend_from_slice(&data);
    assert_eq!(send(&s, &req).text(), "read 300000");
    let r = get(&s, "/error");
    assert!(r.text().starts_with("false "), "{}", r.text());
    assert!(
        r.text().contains("app.lua:28: inner failure"),
        "{}",
        r.text()
    );
}

// ---------------------------------------------------------------- failures

const FAILING: &str = r#"
return function(req)
  if req.path == "/boom" then
    local t = nil
    return t.field .. "<script>alert(1)</script>"
  elseif req.path == "/raise" then
    error("bad <thing> & \"quotes\"")
  elseif req.path == "/nothing" then
    return
  elseif req.path == "/table" then
    error({ code = 7 })
  elseif req.path == "/yield" then
    coroutine.yield("not a flutter operation")
  end
  return "fine"
end
"#;

#[test]
fn lua_error_gives_generic_500_and_logs_the_traceback() {
    let s = Server::start(FAILING, &[]);
    let r = get(&s, "/raise");
    assert_eq!(r.status, 500);
    let page = r.text();
    assert!(page.contains("500"), "{page}");
    assert!(!page.contains("traceback"), "{page}");
    assert!(!page.contains("app.lua"), "{page}");
    assert!(!page.contains("bad"), "{page}");
    assert_logged(&s, "stack traceback");
    let log = s.stderr();
    assert!(log.contains("app.lua:7"), "{log}");
    assert!(log.contains("bad <thing>"), "{log}");
    let r = get(&s, "/boom");
    assert_eq!(r.status, 500);
    assert!(!r.text().contains("field"));
    assert_eq!(get(&s, "/nothing").status, 500);
    assert_logged(&s, "the handler returned nothing");
    // Errors that are not strings are logged as Lua's tostring shows them.
    assert_eq!(get(&s, "/table").status, 500);
    assert_logged(&s, "GET /table: table: ");
    assert_eq!(get(&s, "/yield").status, 500);
    assert_logged(&s, "yielded outside a flutter operation");
    assert_eq!(get(&s, "/").status, 200);
}

#[test]
fn dev_mode_shows_the_traceback_html_escaped() {
    let s = Server::start(FAILING, &["--dev"]);
    let r = get(&s, "/raise");
    assert_eq!(r.status, 500);
    let page = r.text();
    assert!(page.contains("stack traceback"), "{page}");
    assert!(page.contains("app.lua:7"), "{page}");
    assert!(
        page.contains("bad &lt;thing&gt; &amp; &quot;quotes&quot;"),
        "{page}"
    );
    assert!(!page.contains("<thing>"), "{page}");
    let r = get(&s, "/boom");
    assert_eq!(r.status, 500);
    assert!(
        r.text().contains("attempt to index a nil value"),
        "{}",
        r.text()
    );
    assert_eq!(get(&s, "/").text(), "fine");
}

#[test]
fn instruction_budget_stops_runaway_handlers() {
    let s = Server::start(
        r#"
return function(req)
  if req.path == "/spin" then
    while true do end
  elseif req.path == "/pcall" then
    while true do pcall(function() while true do end end) end
  elseif req.path == "/sort" then
    -- Inside a C function (table.sort's comparator) the coroutine cannot yield.
    table.sort({ 3, 2, 1 }, function(a, b)
      while true do pcall(function() while true do end end) end
    end)
  elseif req.path == "/gsub" then
    string.gsub("aaaa", "a", function()
      while true do pcall(string.rep, "x", 10) end
    end)
  elseif req.path == "/coroutine" then
    -- The script's own coroutines are under the same budget.
    coroutine.wrap(function() while true do end end)()
    while true do end
  elseif req.path == "/sort-coroutines" then
    table.sort({ 3, 2, 1 }, function(a, b)
      while true do pcall(coroutine.wrap(function() while true do end end)) end
    end)
  elseif req.path == "/coroutines" then
    while true do
      coroutine.resume(coroutine.create(function() while true do pcall(function() while true do end end) end end))
    end
  elseif req.path == "/deep" then
    -- Each level of nested coroutines is counted, not only the running one.
    local function nest(n)
      if n == 0 then
        while true do coroutine.resume(coroutine.create(function() while true do end end)) end
      end
      coroutine.wrap(nest)(n - 1)
    end
    nest(20)
  elseif req.path == "/hook" then
    return tostring(debug.gethook())
  end
  return "done"
end
"#,
        &["--lua-instruction-limit", "1000000"],
    );
    for path in [
        "/spin",
        "/pcall",
        "/sort",
        "/gsub",
        "/coroutine",
        "/coroutines",
        "/deep",
    ] {
        let started = Instant::now();
        let r = get(&s, path);
        assert_eq!(r.status, 500, "{path}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{path} took {:?}",
            started.elapsed()
        );
        let r = get(&s, "/");
        assert_eq!((r.status, r.text().as_str()), (200, "done"), "after {path}");
    }
    assert_logged(&s, "lua_instruction_limit");
    // Requests run without the hook (it costs on every instruction) until the
    // watchdog finds one running long, and it is off again after those above.
    assert_eq!(get(&s, "/hook").text(), "nil");
}

#[test]
fn memory_limit_replaces_the_state_and_the_next_request_is_served() {
    let s = Server::start(
        r#"
counter = 0
return function(req)
  if req.path == "/hog" then
    local t = {}
    for i = 1, math.huge do t[i] = string.rep("x", 1000) .. i end
  elseif req.path == "/hog-pcall" then
    -- Catching the memory error does not let the request go on.
    local keep = {}
    while true do
      pcall(function() for i = 1, math.huge do keep[#keep + 1] = string.rep("y", 1000) .. i end end)
    end
  elseif req.path == "/hog-resume" then
    local keep = {}
    while true do
      coroutine.resume(coroutine.create(function() for i = 1, math.huge do keep[#keep + 1] = string.rep("z", 1000) .. i end end))
    end
  end
  counter = counter + 1
  return tostring(counter)
end
"#,
        &["--lua-memory-limit", "33554432"],
    );
    assert_eq!(get(&s, "/").text(), "1");
    assert_eq!(get(&s, "/").text(), "2");
    let r = get(&s, "/hog");
    assert_eq!(r.status, 500);
    // A fresh state: the script ran again, so its globals start over.
    let r = get(&s, "/");
    assert_eq!((r.status, r.text().as_str()), (200, "1"));
    for path in ["/hog-pcall", "/hog-resume"] {
        let started = Instant::now();
        let r = get(&s, path);
        assert_eq!(r.status, 500, "{path}");
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{path} took {:?}",
            started.elapsed()
        );
        let r = get(&s, "/");
        assert_eq!((r.status, r.text().as_str()), (200, "1"), "after {path}");
    }
    assert_logged(&s, "lua_memory_limit");
    assert!(s.rss_kib() < 200 << 10);
}

// ---------------------------------------------------------------- library

#[test]
fn json_library_round_trips() {
    let s = Server::start(
        r#"
local json = flutter.json
return function(req)
  local out = {}
  local function check(name, ok) out[#out + 1] = name .. "=" .. tostring(ok) end
  -- null sentinel both ways
  local v = json.decode('{"a":null,"b":[null,1]}')
  check("null_decodes_to_sentinel", v.a == json.null and v.b[1] == json.null)
  check("null_encodes", json.encode({ x = json.null }) == '{"x":null}')
  check("null_round_trip", json.encode(json.decode("null")) == "null")
  -- empty array stays [], empty object stays {}
  check("empty_array", json.encode(json.decode("[]")) == "[]")
  check("empty_object", json.encode(json.decode("{}")) == "{}")
  check("nested_empty", json.encode(json.decode('{"a":[]}')) == '{"a":[]}')
  check("empty_table_is_object", json.encode({}) == "{}")
  check("marked_empty_array", json.encode(setmetatable({}, json.array_mt)) == "[]")
  -- nested structures and scalars
  local text = [==[{"deep":{"list":[1,2.5,"s",true,false,{"k":[[]]}]},"big":9007199254740993,"neg":-7,"uni":"\u00e9\ud83d\ude00"}]==]
  local d = json.decode(text)
  check("nested_values", d.deep.list[2] == 2.5 and d.deep.list[6].k[1][1] == nil and math.type(d.big) == "integer" and d.big == 9007199254740993 and d.neg == -7)
  check("unicode", d.uni == "\xc3\xa9\xf0\x9f\x98\x80")
  local again = json.decode(json.encode(d))
  check("round_trip", json.encode(again) == json.encode(d) and again.deep.list[3] == "s" and again.deep.list[4] == true)
  check("sequence_is_array", json.encode({ 1, 2, 3 }) == "[1,2,3]")
  check("escapes", json.decode(json.encode("a\"b\\c\n\t\1<")) == "a\"b\\c\n\t\1<")
  -- refusals are errors, not crashes
  check("refuses_function", not pcall(json.encode, { f = print }))
  check("refuses_nan", not pcall(json.encode, 0/0))
  local cyc = {} cyc.self = cyc
  check("refuses_cycle", not pcall(json.encode, cyc))
  check("refuses_bad_json", not pcall(json.decode, "{bad"))
  check("refuses_trailing", not pcall(json.decode, "[1] x"))
  return { headers = { ["content-type"] = "text/plain" }, body = table.concat(out, "\n") }
end
"#,
        &[],
    );
    let r = get(&s, "/");
    assert_eq!(r.status, 200, "{}", r.text());
    let failed: Vec<&str> = r.body_lines().filter(|l| !l.ends_with("=true")).collect();
    assert!(failed.is_empty(), "failed checks: {failed:?}\n{}", r.text());
    assert_eq!(r.body_lines().count(), 18);
}

trait Lines {
    fn body_lines(&self) -> std::vec::IntoIter<&str>;
}

impl Lines for Resp {
    fn body_lines(&self) -> std::vec::IntoIter<&str> {
        std::str::from_utf8(&self.body)
            .unwrap()
            .lines()
            .collect::<Vec<_>>()
            .into_iter()
    }
}

#[test]
fn escape_functions_and_log() {
    let s = Server::start(
        &format!(
            r#"{HEX}
return function(req)
  flutter.log("warn", "custom log line", 42)
  flutter.log("plain message")
  return {{ json = {{
    html = flutter.escape_html([[<a href="x">Tom & 'Jerry'</a>]]),
    uri = flutter.escape_uri("a b/c?d=e&f=ü~._-"),
    unuri = flutter.unescape_uri("a%20b+c%2F%C3%BC%zz"),
    bin = hex(flutter.unescape_uri(flutter.escape_uri("\0\128\255"))),
  }} }}
end
"#
        ),
        &[],
    );
    let r = get(&s, "/");
    assert_eq!(r.status, 200, "{}", r.text());
    let j = json_of(&r);
    assert_eq!(
        j["html"],
        "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
    );
    assert_eq!(j["uri"], "a%20b%2Fc%3Fd%3De%26f%3D%C3%BC~._-");
    assert_eq!(j["unuri"], "a b c/ü%zz");
    assert_eq!(j["bin"], "0080ff");
    assert_logged(&s, "plain message");
    let log = s.stderr();
    let line = log
        .lines()
        .find(|l| l.contains("custom log line"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(line.contains("[warn]") && line.contains("42"), "{line}");
}

// ---------------------------------------------------------------- scripts

#[test]
fn syntax_error_exits_naming_file_and_line() {
    let dir = temp_dir("syntax");
    let script = dir.join("broken.lua");
    std::fs::write(
        &script,
        "return function(req)\n  local x = 1\n  return x +\nend\n",
    )
    .unwrap();
    let err = match Server::start_script(&script, &dir, &[]) {
        Ok(_) => panic!("a script with a syntax error was served"),
        Err(stderr) => stderr,
    };
    assert!(err.contains("broken.lua:4"), "{err}");
    let (code, stderr) = run_to_exit(&script, &[]);
    assert!(matches!(code, Some(c) if c != 0), "exit {code:?}");
    assert!(stderr.contains("broken.lua:4"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn runtime_error_at_load_exits_naming_file_and_line() {
    let dir = temp_dir("loaderr");
    let script = dir.join("throws.lua");
    std::fs::write(&script, "local t = nil\n\nprint(t.x)\n").unwrap();
    let (code, stderr) = run_to_exit(&script, &[]);
    assert!(matches!(code, Some(c) if c != 0), "exit {code:?}");
    assert!(stderr.contains("throws.lua:3"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn missing_script_exits_with_a_clear_message() {
    let dir = temp_dir("missing");
    let script = dir.join("nope.lua");
    let (code, stderr) = run_to_exit(&script, &[]);
    assert!(matches!(code, Some(c) if c != 0), "exit {code:?}");
    assert!(stderr.contains("nope.lua"), "{stderr}");
    assert!(stderr.to_lowercase().contains("no such file"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn script_without_handler_exits_with_a_clear_message() {
    let dir = temp_dir("nohandler");
    let script = dir.join("idle.lua");
    std::fs::write(&script, "local x = 1\nreturn { not_a = 'function' }\n").unwrap();
    let err = match Server::start_script(&script, &dir, &[]) {
        Ok(_) => panic!("a script without a handler was served"),
        Err(stderr) => stderr,
    };
    assert!(err.contains("idle.lua"), "{err}");
    assert!(err.contains("onRequest"), "{err}");
    let (code, _) = run_to_exit(&script, &[]);
    assert!(matches!(code, Some(c) if c != 0), "exit {code:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Lua 5.4 turns integers into text through snprintf("%lld"), which the
/// vendored build links to its own formatter (src/lua/integer2str.c).
#[test]
fn integers_become_text_exactly() {
    let s = Server::start(
        r#"
return function(req)
  local n = math.tointeger(req.args.n)
  return tostring(n) .. "|" .. n .. "|" .. string.format("%d|%5d|%x", n, n % 1000, n) .. "|" .. flutter.json.encode({n})
end
"#,
        &[],
    );
    let mut cases = vec![
        0i64,
        1,
        -1,
        9,
        10,
        -10,
        99,
        100,
        -12345,
        i64::MAX,
        i64::MIN,
        i64::MIN + 1,
    ];
    cases.extend((1..19).map(|k| 10i64.pow(k)));
    cases.extend((1..19).map(|k| 1 - 10i64.pow(k)));
    for n in cases {
        let r = get(&s, &format!("/?n={n}"));
        let want = format!("{n}|{n}|{n}|{:5}|{n:x}|[{n}]", n.rem_euclid(1000));
        assert_eq!(r.text(), want, "{n}");
    }
    // Other formats are untouched.
    let s = Server::start(
        "return function() return tostring(1.5) .. '|' .. 2^63 .. '|' .. string.format('%.3f|%5.1f|%s', 1/3, 2.25, 'x') end",
        &[],
    );
    assert_eq!(get(&s, "/").text(), "1.5|9.2233720368548e+18|0.333|  2.2|x");
}
