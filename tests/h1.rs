//! HTTP/1.x over real sockets: framing, keep-alive, pipelining, hostile input,
//! timeouts, large and streamed responses, and the access log (RFC 9110/9112).
mod common;
use common::*;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Echoes method, path, version and body; records every request it runs so a
/// test can prove a request was (or was not) executed: `GET /seen` lists them.
const ECHO: &str = r#"
local seen = {}
return function(req)
  if req.path == "/seen" then
    return { status = 200, body = table.concat(seen, ",") }
  end
  seen[#seen + 1] = req.method .. " " .. req.path
  if req.path == "/ignore" then return "ignored" end
  if req.path == "/no-content" then return { status = 204, body = "dropped" } end
  if req.path == "/not-modified" then return { status = 304, body = "dropped" } end
  if req.path == "/close-me" then return { headers = { connection = "close" }, body = "bye" } end
  return {
    status = 200,
    headers = { ["content-type"] = "text/plain", ["x-version"] = req.version },
    body = req.method .. " " .. req.path .. "|" .. (req.body or ""),
  }
end
"#;

/// Generous bound for anything the server must do "soon".
const PATIENCE: Duration = Duration::from_secs(10);

fn echo(args: &[&str]) -> Server {
    Server::start(ECHO, args)
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes()
}

fn get_close(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").into_bytes()
}

fn send(s: &mut TcpStream, bytes: &[u8]) {
    s.write_all(bytes).unwrap();
}

fn open(srv: &Server) -> TcpStream {
    let s = srv.connect();
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s
}

/// Whether the server closed `s` without sending anything more: EOF (or a
/// reset) within the patience bound.
fn closed(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => panic!(
                "unexpected bytes before the close: {:?}",
                String::from_utf8_lossy(&buf[..n])
            ),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                return matches!(
                    e.kind(),
                    ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
                )
            }
        }
    }
}

/// Whether `s` is still open with nothing to read right now.
fn still_open(s: &mut TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut b = [0u8; 1];
    let open = matches!(s.read(&mut b), Err(e) if e.kind() == ErrorKind::WouldBlock);
    s.set_nonblocking(false).unwrap();
    open
}

/// The one response to `request` on a fresh connection the server closes.
fn one(srv: &Server, request: &[u8]) -> (Resp, Vec<u8>) {
    let raw = srv.raw(request);
    let mut all = parse_responses(&raw);
    assert_eq!(
        all.len(),
        1,
        "expected exactly one response, got {:?}",
        String::from_utf8_lossy(&raw)
    );
    (all.remove(0), raw)
}

/// A hostile request gets `status`, with `Connection: close`, and the
/// connection is closed right after; anything pipelined behind it is dropped.
fn refused(srv: &Server, request: &[u8], status: u16) {
    let mut s = open(srv);
    send(&mut s, request);
    let r = read_response(&mut s);
    assert_eq!(
        r.status,
        status,
        "for {:?}: {}",
        String::from_utf8_lossy(request),
        r.text()
    );
    assert_eq!(r.header("connection"), Some("close"));
    assert!(closed(&mut s), "connection left open after {status}");
    assert_serves(srv);
}

/// The worker still answers a fresh connection normally.
fn assert_serves(srv: &Server) {
    let (r, _) = one(srv, &get_close("/alive"));
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "GET /alive|");
}

/// Reads the response to a HEAD request: a head that announces a body which
/// does not follow.
fn read_head_response(s: &mut TcpStream) -> Resp {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).unwrap(), 1, "closed mid-head");
        head.push(byte[0]);
    }
    let mut all = parse_responses(&head);
    all.pop().expect("a response head")
}

fn seen(srv: &Server) -> String {
    one(srv, &get_close("/seen")).0.text()
}

// ---------------------------------------------------------------- keep-alive

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let srv = echo(&[]);
    let mut s = open(&srv);
    for i in 0..5 {
        send(&mut s, &get(&format!("/r{i}")));
        let r = read_response(&mut s);
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), format!("GET /r{i}|"));
        assert_eq!(r.header("connection"), None);
    }
    // A POST with a body keeps the connection too.
    send(
        &mut s,
        b"POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc",
    );
    assert_eq!(read_response(&mut s).text(), "POST /p|abc");
    send(&mut s, &get("/last"));
    assert_eq!(read_response(&mut s).text(), "GET /last|");
    assert!(still_open(&mut s));
}

/// A worker reuses a finished request's body for the next request, on any
/// connection: nothing of one body may show in the next, whether it was
/// spooled to a file, buffered, or arrived in parts.
#[test]
fn each_request_sees_only_its_own_body() {
    let srv = echo(&["--body-buffer-bytes", "1024"]);
    let (mut a, mut b) = (open(&srv), open(&srv));
    let big = "x".repeat(5000);
    send(
        &mut a,
        format!("POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n{big}").as_bytes(),
    );
    assert_eq!(read_response(&mut a).text(), format!("POST /big|{big}"));
    send(&mut b, &get("/empty"));
    assert_eq!(read_response(&mut b).text(), "GET /empty|");
    send(
        &mut a,
        b"POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nxyz",
    );
    assert_eq!(read_response(&mut a).text(), "POST /small|xyz");
    send(
        &mut b,
        b"POST /parts HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nabc",
    );
    std::thread::sleep(Duration::from_millis(50));
    send(&mut b, b"def");
    assert_eq!(read_response(&mut b).text(), "POST /parts|abcdef");
    send(&mut a, &get("/again"));
    assert_eq!(read_response(&mut a).text(), "GET /again|");
}

#[test]
fn http10_closes_by_default() {
    let srv = echo(&[]);
    let mut s = open(&srv);
    send(&mut s, b"GET /old HTTP/1.0\r\n\r\n");
    let raw = read_all(&mut s, PATIENCE);
    // The highest version the server speaks, with 1.0 connection rules (RFC 9110 §6.2).
    assert!(
        raw.starts_with(b"HTTP/1.1 200 OK\r\n"),
        "{:?}",
        String::from_utf8_lossy(&raw)
    );
    let r = parse_responses(&raw).remove(0);
    assert_eq!(r.text(), "GET /old|");
    assert_eq!(r.header("x-version"), Some("1.0"));
    assert_ne!(
        r.header("connection").map(str::to_ascii_lowercase),
        Some("keep-alive".into())
    );
    // read_all returned: the server closed.
    assert!(closed(&mut s));
}

#[test]
fn http10_keep_alive_on_request() {
    let srv = echo(&[]);
    let mut s = open(&srv);
    for i in 0..3 {
        send(
            &mut s,
            format!("GET /k{i} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").as_bytes(),
        );
        let r = read_response(&mut s);
        assert_eq!(r.text(), format!("GET /k{i}|"));
        assert_eq!(
            r.header("connection").map(str::to_ascii_lowercase),
            Some("keep-alive".into())
        );
        assert!(r.header("content-length").is_some());
    }
    // Without the token the next one closes.
    send(&mut s, b"GET /end HTTP/1.0\r\n\r\n");
    assert_eq!(read_response(&mut s).text(), "GET /end|");
    assert!(closed(&mut s));
}

#[test]
fn connection_close_on_http11_closes_after_response() {
    let srv = echo(&[]);
    let mut s = open(&srv);
    // A second request pipelined after `Connection: close` is not answered.
    let mut req = get_close("/bye");
    req.extend_from_slice(&get("/after"));
    send(&mut s, &req);
    let r = read_response(&mut s);
    assert_eq!(r.text(), "GET /bye|");
    assert_eq!(r.header("connection"), Some("close"));
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
    assert_eq!(seen(&srv), "GET /bye");
}

#[test]
fn close_response_arrives_though_the_client_sent_more() {
    // Bytes after a `Connection: close` request are never read, and closing
    // a socket with unread input resets the connection: the response (held
    // back to leave with the FIN) must be out before that.
    let srv = Server::start(
        r#"return function(req) flutter.sleep(0.3) return "answered" end"#,
        &[],
    );
    let mut s = open(&srv);
    send(&mut s, &get_close("/bye"));
    sleep(Duration::from_millis(100));
    send(&mut s, b"more bytes the server will not read");
    let reply = String::from_utf8_lossy(&read_all(&mut s, Duration::from_secs(5))).into_owned();
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply:?}");
    assert!(reply.ends_with("\r\n\r\nanswered"), "{reply:?}");
}

#[test]
fn half_closed_client_still_gets_its_response() {
    // The client sends its request and shuts down its sending side, as
    // `printf ... | nc` does; the handler takes a while to answer.
    let slow = r#"return function(req)
      flutter.sleep(0.2)
      if req.path == "/stream" then
        local n = 0
        return { body = function() n = n + 1; if n <= 3 then return "c" .. n end end }
      end
      return "done " .. req.path
    end"#;
    let srv = Server::start(slow, &[]);
    for (req, want) in [
        (&b"GET /full HTTP/1.1\r\nHost: t\r\n\r\n"[..], "done /full"),
        (&b"GET /full HTTP/1.0\r\n\r\n"[..], "done /full"),
        (&b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n"[..], "c1c2c3"),
        (&b"GET /stream HTTP/1.0\r\n\r\n"[..], "c1c2c3"),
    ] {
        let mut s = open(&srv);
        send(&mut s, req);
        s.shutdown(Shutdown::Write).unwrap();
        let raw = read_all(&mut s, PATIENCE);
        let text = String::from_utf8_lossy(&raw);
        assert!(text.starts_with("HTTP/1."), "{req:?}: {text:?}");
        let head_end = text.find("\r\n\r\n").unwrap() + 4;
        let body = if text.contains("Transfer-Encoding: chunked") {
            parse_responses(&raw)[0].text()
        } else {
            text[head_end..].to_string()
        };
        assert_eq!(body, want, "{text:?}");
    }
}

#[test]
fn stream_goes_on_when_the_client_stops_sending_an_unread_body() {
    // The handler streams without reading a large body; the client sends
    // part of it and shuts down its side. The stream still ends properly,
    // on 1.1 (chunked) and 1.0 (delimited by the close) alike.
    let app = r#"return function(req)
      local n = 0
      return { body = function()
        n = n + 1
        if n > 4 then return nil end
        flutter.sleep(0.05)
        return "s" .. n
      end }
    end"#;
    let srv = Server::start(app, &[]);
    for (version, host) in [("1.1", "Host: t\r\n"), ("1.0", "")] {
        let mut s = open(&srv);
        let mut req =
            format!("POST /x HTTP/{version}\r\n{host}Content-Length: 200000\r\n\r\n").into_bytes();
        req.extend_from_slice(&[b'b'; 1000]);
        send(&mut s, &req);
        sleep(Duration::from_millis(20));
        s.shutdown(Shutdown::Write).unwrap();
        let raw = read_all(&mut s, PATIENCE);
        let text = String::from_utf8_lossy(&raw);
        let body = if version == "1.1" {
            parse_responses(&raw)[0].text()
        } else {
            text.split_once("\r\n\r\n")
                .map_or("", |(_, b)| b)
                .to_string()
        };
        assert_eq!(body, "s1s2s3s4", "HTTP/{version}: {text:?}");
    }
}

#[test]
fn handler_connection_close_closes() {
    let srv = echo(&[]);
    let mut s = open(&srv);
    send(&mut s, &get("/close-me"));
    let r = read_response(&mut s);
    assert_eq!(r.text(), "bye");
    assert_eq!(r.header("connection"), Some("close"));
    assert!(closed(&mut s));
}

#[test]
fn unread_body_is_skipped_before_the_next_request() {
    // The handler answers without reading a body too large to buffer; the
    // rest of it is read and dropped, and the pipelined request after it runs.
    let srv = echo(&[]);
    let mut s = open(&srv);
    let mut batch = b"POST /ignore HTTP/1.1\r\nHost: t\r\nContent-Length: 300000\r\n\r\n".to_vec();
    batch.extend_from_slice(&[b'G'; 300_000]);
    batch.extend_from_slice(&get("/after"));
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || w.write_all(&batch).unwrap());
    assert_eq!(read_response(&mut s).text(), "ignored");
    let r = read_response(&mut s);
    assert_eq!(r.text(), "GET /after|");
    writer.join().unwrap();
    assert_eq!(seen(&srv), "POST /ignore,GET /after");
}

#[test]
fn no_body_statuses_and_stray_crlf() {
    let srv = echo(&[]);
    let mut s = open(&srv);
    // 204 and 304 end at their head, whatever the handler gave as body; an
    // empty line before a request line is tolerated (RFC 9112 §2.2).
    send(
        &mut s,
        b"GET /no-content HTTP/1.1\r\nHost: t\r\n\r\n\r\nGET /not-modified HTTP/1.1\r\nHost: t\r\n\r\n\r\nGET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    let raw = read_all(&mut s, PATIENCE);
    let text = String::from_utf8_lossy(&raw);
    assert!(!text.contains("dropped"), "{text}");
    let all = parse_responses(&raw);
    let got: Vec<(u16, String)> = all.iter().map(|r| (r.status, r.text())).collect();
    assert_eq!(
        got,
        vec![
            (204, String::new()),
            (304, String::new()),
            (200, "GET /x|".into())
        ]
    );
    assert_eq!(all[0].header("content-length"), None);
    assert_eq!(all[0].header("transfer-encoding"), None);
}

#[test]
fn absolute_form_target() {
    let srv = echo(&[]);
    let (r, _) = one(
        &srv,
        b"GET http://example.com/abs/p?x=1 HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.text(), "GET /abs/p|");
    refused(&srv, b"GET ftp://h/x HTTP/1.1\r\nHost: t\r\n\r\n", 400);
    refused(&srv, b"GET /a#frag HTTP/1.1\r\nHost: t\r\n\r\n", 400);
}

// ---------------------------------------------------------------- pipelining

#[test]
fn pipelined_requests_answered_in_order() {
    let srv = echo(&[]);
    let mut s = open(&srv);
    let mut batch = Vec::new();
    batch.extend_from_slice(&get("/one"));
    batch.extend_from_slice(
        b"POST /two HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world",
    );
    batch.extend_from_slice(
        b"PUT /three HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    );
    batch.extend_from_slice(b"HEAD /four HTTP/1.1\r\nHost: t\r\n\r\n");
    batch.extend_from_slice(&get("/five"));
    send(&mut s, &batch);
    let want = [
        "GET /one|",
        "POST /two|hello world",
        "PUT /three|abcde",
        "",
        "GET /five|",
    ];
    for (i, w) in want.iter().enumerate() {
        let r = if i == 3 {
            read_head_response(&mut s)
        } else {
            read_response(&mut s)
        };
        assert_eq!(r.status, 200, "response {i}");
        assert_eq!(r.text(), *w, "response {i}");
        if i == 3 {
            // HEAD: the length of the body ("HEAD /four|"), none on the wire.
            assert_eq!(r.header("content-length"), Some("11"));
        }
    }
    assert!(still_open(&mut s));
    assert_eq!(
        seen(&srv),
        "GET /one,POST /two,PUT /three,HEAD /four,GET /five"
    );
}

#[test]
fn pipelined_garbage_after_good_requests() {
    // The good requests are answered in order, then the 400, then the close.
    let srv = echo(&[]);
    let mut batch = get("/a");
    batch.extend_from_slice(b"POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nxy");
    batch.extend_from_slice(b"GET /c HTTP/1.1\r\nHost: t\r\nBad Header: 1\r\n\r\n");
    batch.extend_from_slice(&get("/d"));
    let raw = srv.raw(&batch);
    let got: Vec<(u16, String)> = parse_responses(&raw)
        .iter()
        .map(|r| (r.status, r.text()))
        .collect();
    assert_eq!(got.len(), 3, "{:?}", String::from_utf8_lossy(&raw));
    assert_eq!(got[0], (200, "GET /a|".into()));
    assert_eq!(got[1], (200, "POST /b|xy".into()));
    assert_eq!(got[2].0, 400);
    assert_eq!(seen(&srv), "GET /a,POST /b");
}

#[test]
fn pipelined_requests_wait_for_a_client_that_does_not_read() {
    // Pipelining many requests for a large body without reading: responses
    // are made as the client takes them, not all queued in server memory.
    let big = r#"
      local body = string.rep("0123456789abcdef", 65536)
      return function(req) return { body = body } end
    "#;
    let srv = Server::start(big, &[]);
    let mut s = open(&srv);
    send(&mut s, &get("/warm"));
    assert_eq!(read_response(&mut s).body.len(), 1 << 20);
    let before = srv.rss_kib();
    let n = 64;
    let mut batch = Vec::new();
    for i in 0..n {
        batch.extend_from_slice(&get(&format!("/{i}")));
    }
    send(&mut s, &batch);
    sleep(Duration::from_millis(500));
    let grown_mib = srv.rss_kib().saturating_sub(before) / 1024;
    for i in 0..n {
        let r = read_response(&mut s);
        assert_eq!((r.status, r.body.len()), (200, 1 << 20), "response {i}");
    }
    // 64 MiB of responses; a few MiB of them may wait in buffers.
    assert!(grown_mib < 24, "the server grew by {grown_mib} MiB");
}

#[test]
fn pipelined_batch_larger_than_one_read() {
    // Many requests in one write: more than the head limit and one socket read.
    let srv = echo(&["--max-header-bytes", "1024"]);
    let mut s = open(&srv);
    let n = 300;
    let mut batch = Vec::new();
    for i in 0..n {
        batch.extend_from_slice(&get(&format!("/{i:0>200}")));
    }
    let writer = {
        let mut w = s.try_clone().unwrap();
        std::thread::spawn(move || w.write_all(&batch).unwrap())
    };
    for i in 0..n {
        let r = read_response(&mut s);
        assert_eq!(r.text(), format!("GET /{i:0>200}|"));
    }
    writer.join().unwrap();
}

// ------------------------------------------------------ methods and headers

#[test]
fn head_has_length_but_no_body() {
    let srv = echo(&[]);
    let mut s = open(&srv);
    send(&mut s, b"HEAD /h HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = read_head_response(&mut s);
    assert_eq!(r.status, 200);
    // The length of the body the handler made ("HEAD /h|").
    assert_eq!(r.header("content-length"), Some("8"));
    assert!(r.body.is_empty());
    // The next response on the connection starts right where the head ended.
    send(&mut s, &get_close("/g"));
    let rest = read_all(&mut s, PATIENCE);
    assert!(
        rest.starts_with(b"HTTP/1.1 200 OK\r\n"),
        "{:?}",
        String::from_utf8_lossy(&rest)
    );
    assert_eq!(parse_responses(&rest)[0].text(), "GET /g|");
}

#[test]
fn options_asterisk_and_path() {
    let srv = echo(&[]);
    let mut s = open(&srv);
    send(&mut s, b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = read_response(&mut s);
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "OPTIONS *|");
    send(&mut s, b"OPTIONS /x/y?q=1 HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = read_response(&mut s);
    assert_eq!(r.text(), "OPTIONS /x/y|");
    // `*` is only for OPTIONS.
    refused(&srv, b"GET * HTTP/1.1\r\nHost: t\r\n\r\n", 400);
}

#[test]
fn expect_100_continue() {
    let srv = echo(&[]);
    let mut s = open(&srv);
    send(
        &mut s,
        b"POST /up HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    );
    // The interim response comes before the client sends the body.
    let interim = read_response(&mut s);
    assert_eq!(interim.status, 100);
    send(&mut s, b"12345");
    let r = read_response(&mut s);
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "POST /up|12345");
    // Chunked works the same way, and the connection is still usable.
    send(
        &mut s,
        b"POST /c HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    assert_eq!(read_response(&mut s).status, 100);
    send(&mut s, b"2\r\nok\r\n0\r\n\r\n");
    assert_eq!(read_response(&mut s).text(), "POST /c|ok");
    // No body, nothing to continue: just the final response.
    send(
        &mut s,
        b"GET /n HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n\r\n",
    );
    let r = read_response(&mut s);
    assert_eq!((r.status, r.text().as_str()), (200, "GET /n|"));
}

#[test]
fn expect_100_continue_refused_when_too_large() {
    let srv = echo(&["--max-body-bytes", "10"]);
    let mut s = open(&srv);
    send(
        &mut s,
        b"POST /big HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n",
    );
    // No 100: the final 413 comes straight away.
    let r = read_response(&mut s);
    assert_eq!(r.status, 413);
    assert!(closed(&mut s));
    assert_eq!(seen(&srv), "");
}

/// Checks an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
fn is_imf_fixdate(d: &str) -> bool {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let b = d.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    b.len() == 29
        && DAYS.contains(&&d[0..3])
        && &d[3..5] == ", "
        && digits(5..7)
        && b[7] == b' '
        && MONTHS.contains(&&d[8..11])
        && b[11] == b' '
        && digits(12..16)
        && b[16] == b' '
        && digits(17..19)
        && b[19] == b':'
        && digits(20..22)
        && b[22] == b':'
        && digits(23..25)
        && &d[25..] == " GMT"
}

#[test]
fn date_and_server_headers() {
    let srv = echo(&[]);
    let mut s = open(&srv);
    send(&mut s, &get("/d"));
    let r = read_response(&mut s);
    let date = r.header("date").expect("Date header");
    assert!(is_imf_fixdate(date), "{date:?}");
    let year: i32 = date[12..16].parse().unwrap();
    assert!(year >= 2024, "{date}");
    assert_eq!(
        r.header("server"),
        Some(concat!("flutter/", env!("CARGO_PKG_VERSION")))
    );
    // Exactly one of each.
    let count = |n: &str| {
        r.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(n))
            .count()
    };
    assert_eq!((count("date"), count("server")), (1, 1));
    // Error responses made by the protocol carry them too.
    send(&mut s, b"GET / HTTP/1.1\r\n\r\n");
    let r = read_response(&mut s);
    assert_eq!(r.status, 400);
    assert!(is_imf_fixdate(r.header("date").unwrap_or("")));
    assert!(r.header("server").unwrap_or("").starts_with("flutter/"));
}

// ------------------------------------------------------------ request bodies

#[test]
fn body_by_content_length() {
    let srv = echo(&[]);
    let mut s = open(&srv);
    let body: Vec<u8> = (0..100_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut req = format!(
        "POST /cl HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    send(&mut s, &req);
    let r = read_response(&mut s);
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..9], b"POST /cl|");
    assert_eq!(&r.body[9..], &body[..]);
    // Body bytes and the next request arrive in separate writes.
    send(
        &mut s,
        b"POST /two HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nab",
    );
    sleep(Duration::from_millis(50));
    send(&mut s, b"cd");
    assert_eq!(read_response(&mut s).text(), "POST /two|abcd");
}

#[test]
fn chunked_body_with_extensions_and_trailers() {
    let srv = echo(&[]);
    let mut s = open(&srv);
    send(
        &mut s,
        b"POST /ch HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
          5;name=value\r\nhello\r\n\
          1 ; a = \"q;x\" ; b\r\n \r\n\
          A\r\n0123456789\r\n\
          0;last\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n",
    );
    let r = read_response(&mut s);
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "POST /ch|hello 0123456789");
    // The trailers were consumed exactly: the connection goes on.
    send(&mut s, &get("/next"));
    assert_eq!(read_response(&mut s).text(), "GET /next|");
}

#[test]
fn chunked_body_in_many_small_writes() {
    let srv = echo(&["--body-timeout", "0.5"]);
    let mut s = open(&srv);
    let mut req = b"POST /slow HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let mut want = String::new();
    for i in 0..20 {
        let piece = format!("part{i};");
        want.push_str(&piece);
        req.extend_from_slice(format!("{:x};i={i}\r\n{piece}\r\n", piece.len()).as_bytes());
    }
    req.extend_from_slice(b"0\r\nT: v\r\n\r\n");
    // 1 to 3 bytes at a time; the whole body takes longer than the body
    // timeout, but no single pause comes near it.
    let started = Instant::now();
    for piece in req.chunks(3) {
        send(&mut s, piece);
        sleep(Duration::from_millis(10));
    }
    assert!(started.elapsed() > Duration::from_millis(600));
    let r = read_response(&mut s);
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), format!("POST /slow|{want}"));
}

// --------------------------------------------------------- hostile requests

#[test]
fn content_length_with_transfer_encoding_is_400() {
    let srv = echo(&[]);
    refused(
        &srv,
        b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    );
    refused(
        &srv,
        b"POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n0\r\n\r\n",
        400,
    );
    assert_eq!(seen(&srv), "GET /alive,GET /alive");
}

#[test]
fn differing_content_lengths_are_400() {
    let srv = echo(&[]);
    refused(
        &srv,
        b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        400,
    );
    refused(
        &srv,
        b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 3, 4\r\n\r\nabcd",
        400,
    );
    refused(
        &srv,
        b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n",
        400,
    );
    refused(
        &srv,
        b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 0x10\r\n\r\n",
        400,
    );
    // Identical duplicates are one length.
    let (r, _) = one(
        &srv,
        b"POST /same HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
    );
    assert_eq!(r.text(), "POST /same|abc");
}

#[test]
fn bad_chunk_size_is_400() {
    let srv = echo(&[]);
    for body in [
        &b"zz\r\nhello\r\n0\r\n\r\n"[..],
        b"-5\r\nhello\r\n0\r\n\r\n",
        b"5\r\nhelloXX\r\n0\r\n\r\n",
        b"0x5\r\nhello\r\n0\r\n\r\n",
        b"ffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
        b"5\nhello\r\n0\r\n\r\n",
    ] {
        let mut req =
            b"POST /bad HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        req.extend_from_slice(body);
        refused(&srv, &req, 400);
    }
    assert!(!seen(&srv).contains("/bad"));
}

#[test]
fn invalid_header_name_is_400() {
    let srv = echo(&[]);
    refused(
        &srv,
        b"GET / HTTP/1.1\r\nHost: t\r\nBad Name: x\r\n\r\n",
        400,
    );
    refused(
        &srv,
        b"GET / HTTP/1.1\r\nHost: t\r\nBad\x01: x\r\n\r\n",
        400,
    );
    refused(&srv, b"GET / HTTP/1.1\r\nHost: t\r\nX\"y: x\r\n\r\n", 400);
    refused(&srv, b"GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400);
    refused(&srv, b"GET / HTTP/1.1\r\nHost: t\r\n: x\r\n\r\n", 400);
    // obs-fold
    refused(
        &srv,
        b"GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n",
        400,
    );
}

#[test]
fn cr_or_nul_in_header_value_is_400() {
    let srv = echo(&[]);
    refused(&srv, b"GET / HTTP/1.1\r\nHost: t\r\nX: a\rb\r\n\r\n", 400);
    refused(&srv, b"GET / HTTP/1.1\r\nHost: t\r\nX: a\0b\r\n\r\n", 400);
    refused(&srv, b"GET / HTTP/1.1\r\nHost: t\r\nX: a\nb\r\n\r\n", 400);
    refused(&srv, b"GET / HTTP/1.1\nHost: t\r\n\r\n", 400);
    assert_eq!(seen(&srv).matches("GET /alive").count(), 4);
}

#[test]
fn missing_host_on_http11_is_400() {
    let srv = echo(&[]);
    refused(&srv, b"GET /nohost HTTP/1.1\r\n\r\n", 400);
    refused(&srv, b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
    // HTTP/1.0 may leave it out.
    let (r, _) = one(&srv, b"GET /ok10 HTTP/1.0\r\n\r\n");
    assert_eq!(r.text(), "GET /ok10|");
}

#[test]
fn head_over_max_header_bytes_is_431() {
    let srv = echo(&["--max-header-bytes", "1024"]);
    let big = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "v".repeat(2000)
    );
    refused(&srv, big.as_bytes(), 431);
    // Many small fields add up the same way.
    let mut many = b"GET / HTTP/1.1\r\nHost: t\r\n".to_vec();
    for i in 0..60 {
        many.extend_from_slice(format!("X-F{i}: 0123456789\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    refused(&srv, &many, 431);
    // A head that never ends is refused without waiting for its end.
    let mut s = open(&srv);
    send(&mut s, b"GET / HTTP/1.1\r\nHost: t\r\nX: ");
    for _ in 0..6 {
        if s.write_all(&[b'a'; 200]).is_err() {
            break;
        }
        sleep(Duration::from_millis(5));
    }
    let r = read_response(&mut s);
    assert_eq!(r.status, 431);
    assert!(closed(&mut s));
    assert_serves(&srv);
    // Just under the limit is fine.
    let fits = format!(
        "GET /fits HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX: {}\r\n\r\n",
        "v".repeat(900)
    );
    assert_eq!(one(&srv, fits.as_bytes()).0.status, 200);
}

#[test]
fn too_many_header_fields_is_431() {
    let srv = echo(&["--max-headers", "10"]);
    let mut req = b"GET / HTTP/1.1\r\nHost: t\r\n".to_vec();
    for i in 0..10 {
        req.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    refused(&srv, &req, 431);
}

#[test]
fn uri_over_max_uri_bytes_is_414() {
    let srv = echo(&["--max-uri-bytes", "100"]);
    let long = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(200));
    refused(&srv, long.as_bytes(), 414);
    let query = format!("GET /q?{} HTTP/1.1\r\nHost: t\r\n\r\n", "b=1&".repeat(50));
    refused(&srv, query.as_bytes(), 414);
    let fits = format!(
        "GET /{} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        "a".repeat(90)
    );
    assert_eq!(one(&srv, fits.as_bytes()).0.status, 200);
}

#[test]
fn body_over_max_body_bytes_by_length_is_413() {
    let srv = echo(&["--max-body-bytes", "100"]);
    refused(
        &srv,
        b"POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n",
        413,
    );
    // Even with the body sent along, the handler never runs.
    let mut req = b"POST /big2 HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n".to_vec();
    req.extend_from_slice(&[b'x'; 5000]);
    refused(&srv, &req, 413);
    let mut req =
        b"POST /fits HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 100\r\n\r\n"
            .to_vec();
    req.extend_from_slice(&[b'y'; 100]);
    assert_eq!(one(&srv, &req).0.status, 200);
    assert_eq!(seen(&srv), "GET /alive,GET /alive,POST /fits");
}

#[test]
fn body_over_max_body_bytes_by_chunks_is_413() {
    let srv = echo(&["--max-body-bytes", "100"]);
    let mut req = b"POST /big HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..4 {
        req.extend_from_slice(b"20\r\n");
        req.extend_from_slice(&[b'z'; 32]);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    refused(&srv, &req, 413);
    // A chunk size alone far over the limit.
    refused(
        &srv,
        b"POST /huge HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nfffffff\r\nabc",
        413,
    );
    assert!(!seen(&srv).contains("POST"));
}

#[test]
fn unknown_transfer_coding_is_501() {
    let srv = echo(&[]);
    refused(
        &srv,
        b"POST /gz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\nxxxx",
        501,
    );
    refused(
        &srv,
        b"POST /gz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        501,
    );
    assert!(!seen(&srv).contains("/gz"));
}

#[test]
fn http2_request_line_is_505() {
    let srv = echo(&[]);
    refused(&srv, b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505);
    refused(&srv, b"GET / HTTP/1.2\r\nHost: t\r\n\r\n", 505);
    refused(&srv, b"GET / HTTP/x.y\r\nHost: t\r\n\r\n", 400);
}

#[test]
fn request_smuggling_attempts_do_not_run_the_hidden_request() {
    let srv = echo(&[]);
    let hidden = "GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n";
    let attempts = [
        // TE.CL and CL.TE
        format!("POST /front HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n{hidden}"),
        format!("POST /front HTTP/1.1\r\nHost: t\r\nContent-Length: 41\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{hidden}"),
        // Obfuscated Transfer-Encoding
        format!("POST /front HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\nContent-Length: 4\r\n\r\n0\r\n\r\n{hidden}"),
        format!("POST /front HTTP/1.1\r\nHost: t\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n{hidden}"),
        format!("POST /front HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n{hidden}"),
        format!("POST /front HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n{hidden}"),
        format!("POST /front HTTP/1.1\r\nHost: t\r\nX: y\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{hidden}"),
        format!("POST /front HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n{hidden}"),
        // HTTP/1.0 with chunked
        format!("POST /front HTTP/1.0\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n0\r\n\r\n{hidden}"),
        // A chunk with a bare LF, a chunk longer than its size
        format!("POST /front HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\n\r\n{hidden}"),
        format!("POST /front HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n{hidden}"),
    ];
    for attempt in &attempts {
        let raw = srv.raw(attempt.as_bytes());
        let responses = parse_responses(&raw);
        assert_eq!(
            responses.len(),
            1,
            "{attempt:?} got {:?}",
            String::from_utf8_lossy(&raw)
        );
        assert!(
            matches!(responses[0].status, 400 | 501),
            "{attempt:?} got {}",
            responses[0].status
        );
        assert_eq!(responses[0].header("connection"), Some("close"));
    }
    let log = seen(&srv);
    assert!(!log.contains("smuggled"), "{log}");
    assert!(!log.contains("front"), "{log}");
    assert_serves(&srv);
}

// ----------------------------------------------------------------- timeouts

#[test]
fn partial_head_times_out_with_408() {
    let srv = echo(&["--header-timeout", "0.5"]);
    let mut s = open(&srv);
    send(&mut s, b"GET /slow HTTP/1.1\r\nHost: t\r\n");
    let r = read_response(&mut s);
    assert_eq!(r.status, 408);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(closed(&mut s));
    // Trickling bytes does not extend the head's time.
    let mut s = open(&srv);
    let started = Instant::now();
    let mut cut = false;
    for b in b"GET /trickle HTTP/1.1\r\nHost: t\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
        if s.write_all(&[*b]).is_err() || !still_open(&mut s) {
            cut = true;
            break;
        }
        sleep(Duration::from_millis(25));
    }
    assert!(
        cut,
        "a head trickled for {:?} was never cut",
        started.elapsed()
    );
    assert_serves(&srv);
    assert!(!seen(&srv).contains("trickle"));
}

#[test]
fn stalled_body_times_out_with_408() {
    let srv = echo(&["--body-timeout", "0.5"]);
    for req in [
        &b"POST /stall HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n12345"[..],
        b"POST /stall HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
    ] {
        let mut s = open(&srv);
        send(&mut s, req);
        let r = read_response(&mut s);
        assert_eq!(r.status, 408);
        assert_eq!(r.header("connection"), Some("close"));
        assert!(closed(&mut s));
    }
    assert_serves(&srv);
    assert!(!seen(&srv).contains("stall"));
}

#[test]
fn idle_keep_alive_connection_is_closed() {
    let srv = echo(&["--idle-timeout", "0.5"]);
    let mut s = open(&srv);
    send(&mut s, &get("/once"));
    assert_eq!(read_response(&mut s).status, 200);
    // Nothing more is sent: closed without a response (no 408 for an idle connection).
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
    // A connection that never sends anything is idle as well.
    let mut s = open(&srv);
    assert!(closed(&mut s));
    assert_serves(&srv);
}

#[test]
fn stray_crlf_after_a_body_leaves_the_connection_idle() {
    // Some clients end a POST body with an extra CRLF (RFC 9112 §2.2). That
    // is no request under way: the idle timeout applies, not a 408.
    let srv = echo(&["--header-timeout", "0.5", "--idle-timeout", "1"]);
    let mut s = open(&srv);
    send(
        &mut s,
        b"POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nok\r\n",
    );
    assert_eq!(read_response(&mut s).text(), "POST /p|ok");
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
}

#[test]
fn stalled_clients_do_not_delay_others() {
    // Timeouts long enough that the stalled connections are certainly still
    // open while the other client is served.
    let srv = echo(&[
        "--header-timeout",
        "5",
        "--body-timeout",
        "5",
        "--idle-timeout",
        "5",
    ]);
    let mut partial_head = open(&srv);
    send(&mut partial_head, b"GET /slow HTTP/1.1\r\nHost: t\r\n");
    let mut stalled_body = open(&srv);
    send(
        &mut stalled_body,
        b"POST /slow HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc",
    );
    let mut idle = open(&srv);
    send(&mut idle, &get("/idle"));
    assert_eq!(read_response(&mut idle).status, 200);
    let mut silent = open(&srv);
    sleep(Duration::from_millis(100));

    let mut other = open(&srv);
    for i in 0..20 {
        send(&mut other, &get(&format!("/other{i}")));
        assert_eq!(read_response(&mut other).text(), format!("GET /other{i}|"));
    }
    for s in [&mut partial_head, &mut stalled_body, &mut idle, &mut silent] {
        assert!(still_open(s), "a stalled connection was closed early");
    }
}

// ---------------------------------------------------------------- responses

#[test]
fn large_response_read_slowly_arrives_intact() {
    let big = r#"
      local parts = {}
      for i = 0, 5 * 1024 * 1024 / 16 - 1 do parts[#parts + 1] = string.format("%015d\n", i) end
      local body = table.concat(parts)
      return function(req) return { body = body, headers = { ["content-type"] = "text/plain" } } end
    "#;
    // Short idle and head timeouts must not cut a keep-alive response still
    // being sent, nor time out a request pipelined behind it.
    let srv = Server::start(
        big,
        &[
            "--idle-timeout",
            "0.5",
            "--header-timeout",
            "0.5",
            "--send-timeout",
            "3",
        ],
    );
    let mut s = open(&srv);
    send(&mut s, &get("/big"));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).unwrap(), 1);
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("Content-Length: 5242880\r\n"), "{head}");
    // The next request waits behind the response the client is still taking.
    send(&mut s, &get_close("/again"));
    let mut body = Vec::with_capacity(5 << 20);
    let mut buf = vec![0u8; 16 << 10];
    let started = Instant::now();
    let mut reads = 0u32;
    while body.len() < 5 << 20 {
        let want = ((5 << 20) - body.len()).min(buf.len());
        let n = s.read(&mut buf[..want]).unwrap();
        assert!(n > 0, "closed after {} bytes", body.len());
        body.extend_from_slice(&buf[..n]);
        reads += 1;
        // Slow for well over the idle timeout, then faster so the test stays short.
        if started.elapsed() < Duration::from_millis(1500) {
            sleep(Duration::from_millis(20));
        }
    }
    assert!(reads > 10);
    assert_eq!(body.len(), 5 << 20);
    for (i, line) in body.chunks(16).enumerate() {
        assert_eq!(line, format!("{i:015}\n").as_bytes(), "line {i}");
    }
    let r = read_response(&mut s);
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 5 << 20);
}

const STREAM: &str = r#"
return function(req)
  local n = 0
  return {
    headers = { ["content-type"] = "text/plain" },
    body = function()
      n = n + 1
      if n > 5 then return nil end
      if n == 3 then flutter.sleep(0.05) end
      return "chunk" .. n .. ";"
    end,
  }
end
"#;

#[test]
fn streamed_response_is_chunked_on_http11() {
    let srv = Server::start(STREAM, &[]);
    let mut s = open(&srv);
    send(&mut s, &get("/s"));
    let r = read_response(&mut s);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.header("content-length"), None);
    assert_eq!(r.text(), "chunk1;chunk2;chunk3;chunk4;chunk5;");
    // Keep-alive survives a chunked response.
    send(&mut s, &get_close("/s2"));
    let raw = read_all(&mut s, PATIENCE);
    let text = String::from_utf8_lossy(&raw);
    assert!(text.contains("\r\n\r\n7\r\nchunk1;\r\n"), "{text}");
    assert!(text.ends_with("\r\n7\r\nchunk5;\r\n0\r\n\r\n"), "{text}");
    // HEAD of a streamed response: head only.
    let (r, raw) = one(
        &srv,
        b"HEAD /s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert!(raw.ends_with(b"\r\n\r\n"));
    assert_eq!(r.status, 200);
}

#[test]
fn streamed_response_is_close_delimited_on_http10() {
    let srv = Server::start(STREAM, &[]);
    let mut s = open(&srv);
    send(&mut s, b"GET /s HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let raw = read_all(&mut s, PATIENCE);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1."), "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(!lower.contains("transfer-encoding"), "{head}");
    assert!(!lower.contains("content-length"), "{head}");
    assert!(lower.contains("connection: close"), "{head}");
    assert_eq!(body, "chunk1;chunk2;chunk3;chunk4;chunk5;");
}

// --------------------------------------------------------------- access log

/// Splits a Combined Log Format line into its nine fields, unescaping nothing.
fn clf_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c == ' ' {
            chars.next();
            continue;
        }
        let (open, close) = match c {
            '"' => ('"', '"'),
            '[' => ('[', ']'),
            _ => (' ', ' '),
        };
        let mut f = String::new();
        if open != ' ' {
            chars.next();
        }
        while let Some(c) = chars.next() {
            if open == '"' && c == '\\' {
                f.push(c);
                f.push(chars.next().unwrap_or_default());
                continue;
            }
            if c == close {
                break;
            }
            f.push(c);
        }
        fields.push(f);
    }
    fields
}

/// Waits for the access log to hold a line containing `needle`.
fn log_line(srv: &Server, needle: &str) -> String {
    let end = Instant::now() + PATIENCE;
    loop {
        if let Some(l) = srv.stdout().lines().find(|l| l.contains(needle)) {
            return l.to_string();
        }
        assert!(
            Instant::now() < end,
            "no access log line with {needle:?} in {:?}",
            srv.stdout()
        );
        sleep(Duration::from_millis(20));
    }
}

#[test]
fn access_log_in_combined_format() {
    let srv = echo(&[]);
    let (r, _) = one(
        &srv,
        b"GET /logged?a=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\nReferer: http://ref/x\r\nUser-Agent: tester/1.0\r\n\r\n",
    );
    let line = log_line(&srv, "/logged");
    let f = clf_fields(&line);
    assert_eq!(f.len(), 9, "{line}");
    assert_eq!(f[0], "127.0.0.1", "{line}");
    assert_eq!((f[1].as_str(), f[2].as_str()), ("-", "-"), "{line}");
    // [10/Oct/2000:13:55:36 +0000]
    let d = f[3].as_bytes();
    assert!(
        d.len() == 26 && d[2] == b'/' && d[6] == b'/' && d[11] == b':' && f[3].ends_with(" +0000"),
        "{line}"
    );
    assert_eq!(f[4], "GET /logged?a=1 HTTP/1.1", "{line}");
    assert_eq!(f[5], "200", "{line}");
    assert_eq!(f[6], r.body.len().to_string(), "{line}");
    assert_eq!(f[7], "http://ref/x", "{line}");
    assert_eq!(f[8], "tester/1.0", "{line}");
    // Without Referer and User-Agent: "-"; a HEAD sends no body bytes.
    one(&srv, b"HEAD /plain HTTP/1.0\r\n\r\n");
    let f = clf_fields(&log_line(&srv, "/plain"));
    assert_eq!(f[4], "HEAD /plain HTTP/1.0");
    assert_eq!(
        (f[6].as_str(), f[7].as_str(), f[8].as_str()),
        ("0", "-", "-")
    );
}

#[test]
fn access_log_escapes_hostile_text() {
    let srv = echo(&[]);
    one(
        &srv,
        "GET /q\"uote\\d/caf\u{e9} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nUser-Agent: a\"b\tc\r\nReferer: \"x\"\r\n\r\n"
            .as_bytes(),
    );
    let line = log_line(&srv, "/q");
    assert!(!line.contains('\t'), "{line:?}");
    assert!(!line.contains('\u{e9}'), "{line:?}");
    assert!(
        line.contains(r#""GET /q\"uote\\d/caf\xC3\xA9 HTTP/1.1" 200 "#),
        "{line:?}"
    );
    let f = clf_fields(&line);
    assert_eq!(f.len(), 9, "{line}");
    assert_eq!(f[8], r#"a\"b\x09c"#, "{line}");
    // One request, one line: nothing a client sends starts a new one.
    assert_eq!(srv.stdout().lines().filter(|l| l.contains("/q")).count(), 1);
}
