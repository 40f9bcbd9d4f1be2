//! Every script in examples/ is served and answers as its comments say
//! (todo.lua has its own suite in tests/session.rs and tests/db.rs).
mod common;
use common::*;
use std::path::Path;

fn serve(example: &str) -> Server {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = temp_dir("example");
    Server::start_script(&root.join("examples").join(example), &dir, &[]).unwrap()
}

#[test]
fn hello_says_hello_world() {
    let s = serve("hello.lua");
    let (code, body) = curl(&[&s.url("/")]);
    assert_eq!(code, 0);
    assert_eq!(body, b"Hello, World!");
}

#[test]
fn headers_shows_the_request_the_0_3_way() {
    let s = serve("headers.lua");
    let (_, body) = curl(&[
        "-H",
        "X-Probe: <b>x</b>",
        "-b",
        "k=v",
        &s.url("/path?a=1&a=2"),
    ]);
    let page = String::from_utf8(body).unwrap();
    assert!(page.contains("here are the headers you sent me"), "{page}");
    assert!(page.contains("x-probe = &lt;b&gt;x&lt;/b&gt;"), "{page}");
    assert!(
        page.contains("path = /path") && page.contains("k = v"),
        "{page}"
    );
}

#[test]
fn json_api_adds_and_lists_items() {
    let s = serve("json_api.lua");
    let (_, body) = curl(&[&s.url("/items")]);
    assert_eq!(body, b"[]");
    let json = |b: &[u8]| serde_json::from_slice::<serde_json::Value>(b).unwrap();
    let (_, body) = curl(&[
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"name":"tea"}"#,
        &s.url("/items"),
    ]);
    assert_eq!(json(&body), serde_json::json!({"id": 1, "name": "tea"}));
    let (_, body) = curl(&[&s.url("/items")]);
    assert_eq!(json(&body), serde_json::json!([{"id": 1, "name": "tea"}]));
    let (_, body) = curl(&[
        "-H",
        "Content-Type: application/json",
        "-d",
        "{}",
        &s.url("/items"),
    ]);
    assert!(String::from_utf8_lossy(&body).contains("expected"));
    let (_, body) = curl(&[&s.url("/slow?s=0.05")]);
    assert_eq!(body, br#"{"slept":0.05}"#);
}

#[test]
fn stream_sends_lines_chunked() {
    let s = serve("stream.lua");
    let r = s.raw(b"GET /?n=3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let text = String::from_utf8_lossy(&r);
    assert!(text.contains("Transfer-Encoding: chunked"), "{text}");
    let rs = parse_responses(&r);
    assert_eq!(rs[0].body, b"line 1\nline 2\nline 3\n");
}

#[test]
fn upload_counts_a_streamed_body() {
    let s = serve("upload.lua");
    let data = vec![b'x'; 3 << 20];
    let path = s.dir.join("big.bin");
    std::fs::write(&path, &data).unwrap();
    let (code, body) = curl(&["-T", path.to_str().unwrap(), &s.url("/")]);
    assert_eq!(code, 0);
    assert_eq!(body, format!("{} bytes\n", 3 << 20).as_bytes());
}
