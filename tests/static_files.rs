//! Static files (`--root`): a real server on real sockets, raw requests for
//! exact bytes and curl for the happy paths. Every header case of RFC 9110
//! the document root answers, and every way a path could leave the root.
mod common;
use common::*;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A document root `root/` with a secret beside it (outside the root).
struct Site {
    dir: PathBuf,
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const NUMBERS_LEN: usize = 3893; // `seq 1 1000`

fn numbers() -> String {
    (1..=1000).map(|n| format!("{n}\n")).collect()
}

impl Site {
    fn new() -> Site {
        let dir = temp_dir("site");
        let root = dir.join("root");
        let w = |p: &str, data: &[u8]| {
            let path = root.join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, data).unwrap();
        };
        std::fs::write(dir.join("secret.txt"), "TOP SECRET\n").unwrap();
        std::fs::create_dir_all(dir.join("outside")).unwrap();
        std::fs::write(dir.join("outside/inner.txt"), "TOP SECRET TOO\n").unwrap();
        w("index.html", b"<h1>home</h1>\n");
        w("a.txt", b"hello\n");
        w("sub/n.txt", numbers().as_bytes());
        w("sub/n.txt.br", b"BROTLI-BYTES");
        w("sub/index.html", b"<h1>sub</h1>\n");
        w("sub/.hidden", b"hidden\n");
        w("docs/report.txt", b"report\n");
        w("docs/<img src=x onerror=alert(1)>.txt", b"x");
        w("docs/a&b \"q\".txt", b"x");
        w("docs/.secret-notes", b"x");
        w("docs/deeper/x.txt", b"x");
        w(".env", b"PASSWORD=hunter2\n");
        w(".git/config", b"[core]\n");
        w("pages/404.html", b"<h1>custom not found</h1>\n");
        for (name, data) in [
            ("x.html", &b"h"[..]),
            ("x.css", b"c"),
            ("x.js", b"j"),
            ("x.mjs", b"j"),
            ("x.json", b"{}"),
            ("x.png", b"p"),
            ("X.JPG", b"j"),
            ("x.svg", b"s"),
            ("x.wasm", b"w"),
            ("x.woff2", b"f"),
            ("x.pdf", b"p"),
            ("x.mp4", b"m"),
            ("x.txt", b"t"),
            ("README", b"r"),
            ("x.unknownext", b"u"),
        ] {
            w(&format!("types/{name}"), data);
        }
        // A real gzip sibling, so curl --compressed can decode it.
        let status = Command::new("gzip")
            .args(["-k", "-n"])
            .arg(root.join("sub/n.txt"))
            .status()
            .unwrap();
        assert!(status.success());
        std::os::unix::fs::symlink(dir.join("secret.txt"), root.join("out")).unwrap();
        std::os::unix::fs::symlink("../secret.txt", root.join("out-relative")).unwrap();
        std::os::unix::fs::symlink(dir.join("outside"), root.join("outdir")).unwrap();
        std::os::unix::fs::symlink("sub/n.txt", root.join("in")).unwrap();
        std::os::unix::fs::symlink(root.join("docs"), root.join("docs-link")).unwrap();
        std::os::unix::fs::symlink(root.join(".env"), root.join("env-link")).unwrap();
        Site { dir }
    }

    fn root(&self) -> String {
        self.dir.join("root").to_string_lossy().into_owned()
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.join("root").join(p)
    }
}

/// One request on a fresh connection (closed after it); the parsed response.
fn request(s: &Server, method: &str, target: &str, headers: &[(&str, &str)]) -> Resp {
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("Connection: close\r\n\r\n");
    let bytes = s.raw(req.as_bytes());
    let mut all = parse_responses(&bytes);
    assert_eq!(all.len(), 1, "{}", String::from_utf8_lossy(&bytes));
    let r = all.remove(0);
    if method == "HEAD" || r.status == 304 {
        // Nothing may follow the head.
        let end = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert_eq!(bytes.len(), end, "{}", String::from_utf8_lossy(&bytes));
    }
    r
}

fn get(s: &Server, target: &str) -> Resp {
    request(s, "GET", target, &[])
}

fn static_only(site: &Site, extra: &[&str]) -> Server {
    let root = site.root();
    let mut args = vec!["--root", root.as_str()];
    args.extend_from_slice(extra);
    Server::start_no_script(&args)
}

const ECHO_HANDLER: &str =
    r#"return function(req) return { status = 200, body = "lua:" .. req.path } end"#;

#[test]
fn plain_static_server_without_a_script() {
    let site = Site::new();
    let s = static_only(&site, &[]);
    let r = get(&s, "/");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"<h1>home</h1>\n");
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let r = get(&s, "/a.txt");
    assert_eq!((r.status, r.text().as_str()), (200, "hello\n"));
    assert_eq!(r.header("content-length"), Some("6"));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    assert_eq!(get(&s, "/no-such-file").status, 404);
    assert_eq!(get(&s, "/sub/n.txt").body, numbers().as_bytes());
    // curl agrees.
    let (code, body) = curl(&[&s.url("/sub/n.txt")]);
    assert_eq!((code, body), (0, numbers().into_bytes()));
    // The access log has the requests, with their sizes.
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        s.stdout().contains("\"GET /a.txt HTTP/1.1\" 200 6"),
        "{}",
        s.stdout()
    );
}

#[test]
fn what_is_not_a_file_goes_to_the_handler() {
    let site = Site::new();
    let root = site.root();
    let s = Server::start(ECHO_HANDLER, &["--root", &root]);
    assert_eq!(get(&s, "/a.txt").text(), "hello\n");
    assert_eq!(get(&s, "/api/users").text(), "lua:/api/users");
    // Refused paths are not files either: the handler decides.
    assert_eq!(get(&s, "/.env").text(), "lua:/.env");
    assert_eq!(get(&s, "/out").text(), "lua:/out");
    assert_eq!(get(&s, "/docs/").text(), "lua:/docs/");
    // POST to a path that is no file reaches the handler; to a file, 405.
    let r = request(&s, "POST", "/api/users", &[("Content-Length", "0")]);
    assert_eq!(r.text(), "lua:/api/users");
    for method in ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"] {
        let r = request(&s, method, "/a.txt", &[("Content-Length", "0")]);
        assert_eq!(r.status, 405, "{method}");
        assert_eq!(r.header("allow"), Some("GET, HEAD"));
    }
}

#[test]
fn mime_types_come_from_the_extension() {
    let site = Site::new();
    let s = static_only(&site, &[]);
    for (name, expected) in [
        ("x.html", "text/html; charset=utf-8"),
        ("x.css", "text/css; charset=utf-8"),
        ("x.js", "text/javascript; charset=utf-8"),
        ("x.mjs", "text/javascript; charset=utf-8"),
        ("x.json", "application/json"),
        ("x.png", "image/png"),
        ("X.JPG", "image/jpeg"),
        ("x.svg", "image/svg+xml"),
        ("x.wasm", "application/wasm"),
        ("x.woff2", "font/woff2"),
        ("x.pdf", "application/pdf"),
        ("x.mp4", "video/mp4"),
        ("x.txt", "text/plain; charset=utf-8"),
        ("README", "application/octet-stream"),
        ("x.unknownext", "application/octet-stream"),
    ] {
        let r = get(&s, &format!("/types/{name}"));
        assert_eq!(r.status, 200, "{name}");
        assert_eq!(r.header("content-type"), Some(expected), "{name}");
    }
}

#[test]
fn validators_and_conditional_requests() {
    let site = Site::new();
    let s = static_only(&site, &["--root-cache-control", "public, max-age=60"]);
    let r = get(&s, "/a.txt");
    let etag = r.header("etag").unwrap().to_string();
    let modified = r.header("last-modified").unwrap().to_string();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "strong: {etag}"
    );
    assert_eq!(r.header("cache-control"), Some("public, max-age=60"));

    let status = |h: &[(&str, &str)]| request(&s, "GET", "/a.txt", h).status;
    assert_eq!(status(&[("If-None-Match", &etag)]), 304);
    assert_eq!(
        status(&[("If-None-Match", &format!("\"x\", W/{etag}"))]),
        304
    );
    assert_eq!(status(&[("If-None-Match", "*")]), 304);
    assert_eq!(status(&[("If-None-Match", "\"other\"")]), 200);
    assert_eq!(status(&[("If-Modified-Since", &modified)]), 304);
    assert_eq!(
        status(&[("If-Modified-Since", "Sat, 01 Jan 2000 00:00:00 GMT")]),
        200
    );
    assert_eq!(status(&[("If-Modified-Since", "garbage")]), 200);
    // If-None-Match decides when both are present.
    let both = [
        ("If-None-Match", "\"other\""),
        ("If-Modified-Since", modified.as_str()),
    ];
    assert_eq!(status(&both), 200);
    assert_eq!(status(&[("If-Match", &etag)]), 200);
    assert_eq!(status(&[("If-Match", "\"other\"")]), 412);
    assert_eq!(
        status(&[("If-Unmodified-Since", "Sat, 01 Jan 2000 00:00:00 GMT")]),
        412
    );
    assert_eq!(status(&[("If-Unmodified-Since", &modified)]), 200);

    // A 304 keeps the validators and caching headers, has no body, and HEAD gets one too.
    let r = request(&s, "GET", "/a.txt", &[("If-None-Match", &etag)]);
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    assert_eq!(r.header("cache-control"), Some("public, max-age=60"));
    assert_eq!(r.header("content-length"), None);
    assert_eq!(
        request(&s, "HEAD", "/a.txt", &[("If-None-Match", &etag)]).status,
        304
    );

    // A changed file gets a new validator (once the descriptor cache looks again).
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(site.path("a.txt"), "hello, again\n").unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let r = request(&s, "GET", "/a.txt", &[("If-None-Match", &etag)]);
    assert_eq!((r.status, r.text().as_str()), (200, "hello, again\n"));
    assert_ne!(r.header("etag"), Some(etag.as_str()));
}

#[test]
fn single_range_requests() {
    let site = Site::new();
    let s = static_only(&site, &[]);
    let all = numbers();
    let range = |spec: &str| request(&s, "GET", "/sub/n.txt", &[("Range", spec)]);
    let r = range("bytes=0-4");
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &all.as_bytes()[..5]);
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes 0-4/{NUMBERS_LEN}").as_str())
    );
    assert_eq!(r.header("content-length"), Some("5"));
    let r = range("bytes=-6");
    assert_eq!((r.status, r.text().as_str()), (206, "\n1000\n"));
    let r = range("bytes=3890-");
    assert_eq!(r.body, &all.as_bytes()[3890..]);
    // Past the end is clamped; a range from beyond the end is unsatisfiable.
    assert_eq!(range("bytes=3880-999999").body, &all.as_bytes()[3880..]);
    let r = range(&format!("bytes={NUMBERS_LEN}-"));
    assert_eq!(r.status, 416);
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes */{NUMBERS_LEN}").as_str())
    );
    // Malformed or another unit: the whole file.
    for bad in ["bytes=5-1", "bytes=x-y", "lines=1-2", "bytes"] {
        let r = range(bad);
        assert_eq!((r.status, r.body.len()), (200, NUMBERS_LEN), "{bad}");
    }
    // HEAD ignores Range.
    let r = request(&s, "HEAD", "/sub/n.txt", &[("Range", "bytes=0-4")]);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-length"),
        Some(NUMBERS_LEN.to_string().as_str())
    );
    // curl -r.
    let (code, body) = curl(&["-r", "10-19", &s.url("/sub/n.txt")]);
    assert_eq!((code, body.as_slice()), (0, &all.as_bytes()[10..20]));
}

/// The parts of a multipart/byteranges body: (content-range, data).
fn byteranges(r: &Resp) -> Vec<(String, Vec<u8>)> {
    let ctype = r.header("content-type").unwrap();
    let boundary = ctype
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("{ctype}"));
    let delimiter = format!("--{boundary}");
    let body = &r.body;
    let mut parts = Vec::new();
    let mut at = 0;
    let find = |from: usize, what: &[u8]| {
        body[from..]
            .windows(what.len())
            .position(|w| w == what)
            .map(|i| from + i)
    };
    loop {
        let start = find(at, delimiter.as_bytes()).expect("delimiter");
        let after = start + delimiter.len();
        if body[after..].starts_with(b"--") {
            assert_eq!(&body[after..], b"--\r\n");
            break;
        }
        let head_end = find(after, b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&body[after..head_end]).into_owned();
        let range = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Range: "))
            .unwrap()
            .to_string();
        assert!(
            head.contains("Content-Type: text/plain; charset=utf-8"),
            "{head}"
        );
        let data_start = head_end + 4;
        let next = find(data_start, format!("\r\n{delimiter}").as_bytes()).unwrap();
        parts.push((range, body[data_start..next].to_vec()));
        at = next + 2;
    }
    parts
}

#[test]
fn multiple_ranges_are_multipart_byteranges() {
    let site = Site::new();
    let s = static_only(&site, &[]);
    let all = numbers().into_bytes();
    let r = request(
        &s,
        "GET",
        "/sub/n.txt",
        &[("Range", "bytes=0-1, 100-109, -5")],
    );
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), None);
    assert_eq!(
        r.header("content-length"),
        Some(r.body.len().to_string().as_str())
    );
    let parts = byteranges(&r);
    assert_eq!(
        parts,
        vec![
            (format!("bytes 0-1/{NUMBERS_LEN}"), all[0..2].to_vec()),
            (
                format!("bytes 100-109/{NUMBERS_LEN}"),
                all[100..110].to_vec()
            ),
            (
                format!("bytes 3888-3892/{NUMBERS_LEN}"),
                all[3888..].to_vec()
            ),
        ]
    );
    // Overlapping ranges are merged: no byte twice.
    let r = request(
        &s,
        "GET",
        "/sub/n.txt",
        &[("Range", "bytes=50-60, 0-9, 5-20")],
    );
    let parts = byteranges(&r);
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].1, &all[0..21]);
    assert_eq!(parts[1].1, &all[50..61]);
    // Overlapping into one range: a plain 206.
    let r = request(&s, "GET", "/sub/n.txt", &[("Range", "bytes=0-9, 5-20")]);
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes 0-20/{NUMBERS_LEN}").as_str())
    );
    // Unsatisfiable ones are dropped; all unsatisfiable is 416.
    let r = request(&s, "GET", "/sub/n.txt", &[("Range", "bytes=99999-, 1-2")]);
    assert_eq!((r.status, r.text().as_str()), (206, "\n2"));
    let r = request(
        &s,
        "GET",
        "/sub/n.txt",
        &[("Range", "bytes=99999-, 5000-6000")],
    );
    assert_eq!(r.status, 416);
}

#[test]
fn if_range() {
    let site = Site::new();
    let s = static_only(&site, &[]);
    // The file must be older than a second for its date to be a strong validator.
    std::thread::sleep(Duration::from_millis(1100));
    let r = get(&s, "/sub/n.txt");
    let etag = r.header("etag").unwrap().to_string();
    let modified = r.header("last-modified").unwrap().to_string();
    let with = |if_range: &str| {
        request(
            &s,
            "GET",
            "/sub/n.txt",
            &[("Range", "bytes=0-3"), ("If-Range", if_range)],
        )
    };
    assert_eq!(with(&etag).status, 206);
    assert_eq!(with(&modified).status, 206);
    let r = with("\"stale\"");
    assert_eq!((r.status, r.body.len()), (200, NUMBERS_LEN));
    assert_eq!(with(&format!("W/{etag}")).status, 200);
    assert_eq!(with("Sat, 01 Jan 2000 00:00:00 GMT").status, 200);
}

#[test]
fn head_and_pipelined_file_responses() {
    let site = Site::new();
    let s = static_only(&site, &[]);
    let r = request(&s, "HEAD", "/sub/n.txt", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-length"),
        Some(NUMBERS_LEN.to_string().as_str())
    );
    assert!(r.header("etag").is_some());
    // Three requests in one write: the responses come back whole and in order.
    let mut c = s.connect();
    c.write_all(
        b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\nHEAD /sub/n.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /sub/n.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1,4-5\r\n\r\nGET /sub/n.txt HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    let a = read_response(&mut c);
    assert_eq!(a.body, b"hello\n");
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        c.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 200"));
    let multi = read_response(&mut c);
    assert_eq!(byteranges(&multi).len(), 2);
    let whole = read_response(&mut c);
    assert_eq!(whole.body, numbers().as_bytes());
    // HTTP/1.0 gets the file with its length, then the close.
    let bytes = s.raw(b"GET /a.txt HTTP/1.0\r\n\r\n");
    let r = &parse_responses(&bytes)[0];
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello\n"[..]));
}

#[test]
fn directories_index_and_redirect() {
    let site = Site::new();
    let s = static_only(&site, &[]);
    let r = get(&s, "/sub");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/sub/"));
    let r = get(&s, "/sub?x=1&y=%20");
    assert_eq!(r.header("location"), Some("/sub/?x=1&y=%20"));
    assert_eq!(get(&s, "/sub/").text(), "<h1>sub</h1>\n");
    assert_eq!(get(&s, "/sub/index.html").text(), "<h1>sub</h1>\n");
    // No index and no listing: not found, and nothing of the directory shows.
    let r = get(&s, "/docs/");
    assert_eq!(r.status, 404);
    assert!(!r.text().contains("report"));
    assert_eq!(get(&s, "/docs").status, 301);
    // A file is not a directory.
    assert_eq!(get(&s, "/a.txt/").status, 404);
    // curl -L follows the redirect to the index.
    let (code, body) = curl(&["-L", &s.url("/sub")]);
    assert_eq!((code, body), (0, b"<h1>sub</h1>\n".to_vec()));
}

#[test]
fn directory_listing_is_opt_in_and_escaped() {
    let site = Site::new();
    let s = static_only(&site, &["--root-listing"]);
    let r = get(&s, "/docs/");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let page = r.text();
    assert!(page.contains("<title>Index of /docs/</title>"), "{page}");
    assert!(
        page.contains(r#"<a href="./report.txt">report.txt</a>"#),
        "{page}"
    );
    assert!(
        page.contains(r#"<a href="./deeper/">deeper/</a>"#),
        "{page}"
    );
    assert!(page.contains(r#"<a href="../">../</a>"#), "{page}");
    // Names cannot inject markup, in the text or in the link.
    assert!(!page.contains("<img"), "{page}");
    assert!(
        page.contains("&lt;img src=x onerror=alert(1)&gt;.txt"),
        "{page}"
    );
    assert!(
        page.contains("href=\"./%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.txt\""),
        "{page}"
    );
    assert!(page.contains("a&amp;b &quot;q&quot;.txt"), "{page}");
    // Dotfiles are not listed.
    assert!(!page.contains("secret-notes"), "{page}");
    // An index still wins over the listing.
    assert_eq!(get(&s, "/sub/").text(), "<h1>sub</h1>\n");
    // The listing's links work.
    assert_eq!(
        get(&s, "/docs/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.txt").text(),
        "x"
    );
    // An escaped request path is escaped in the page too.
    std::fs::create_dir_all(site.path("<b>")).unwrap();
    let page = get(&s, "/%3Cb%3E/").text();
    assert!(page.contains("Index of /&lt;b&gt;/"), "{page}");
    assert!(!page.contains("<b>"), "{page}");
}

#[test]
fn precompressed_siblings_by_accept_encoding() {
    let site = Site::new();
    let s = static_only(&site, &[]);
    let gz = std::fs::read(site.path("sub/n.txt.gz")).unwrap();
    let ae = |v: &str| request(&s, "GET", "/sub/n.txt", &[("Accept-Encoding", v)]);
    let r = ae("gzip");
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.body, gz);
    // br is preferred when both are taken.
    let r = ae("gzip, deflate, br");
    assert_eq!(r.header("content-encoding"), Some("br"));
    assert_eq!(r.body, b"BROTLI-BYTES");
    let r = ae("br;q=0, gzip;q=0.5");
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    // Not taken: the file itself, still with Vary (a cache must not mix them up).
    let r = ae("identity");
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    assert_eq!(r.body, numbers().as_bytes());
    let r = get(&s, "/sub/n.txt");
    assert_eq!(
        (r.header("content-encoding"), r.header("vary")),
        (None, Some("Accept-Encoding"))
    );
    // No sibling: no Vary.
    let r = request(&s, "GET", "/a.txt", &[("Accept-Encoding", "gzip, br")]);
    assert_eq!(
        (r.header("vary"), r.header("content-encoding")),
        (None, None)
    );
    // The variant has its own validator, and ranges apply to it.
    let plain = get(&s, "/sub/n.txt");
    let zipped = ae("gzip");
    assert_ne!(plain.header("etag"), zipped.header("etag"));
    let r = request(
        &s,
        "GET",
        "/sub/n.txt",
        &[("Accept-Encoding", "gzip"), ("Range", "bytes=0-1")],
    );
    assert_eq!((r.status, r.body.as_slice()), (206, &gz[..2]));
    // curl --compressed decodes the gzip sibling back to the file.
    let (code, body) = curl(&[
        "--compressed",
        "-H",
        "Accept-Encoding: gzip",
        &s.url("/sub/n.txt"),
    ]);
    assert_eq!((code, body), (0, numbers().into_bytes()));
}

/// Requests that try to leave the root; none may show the secret.
#[test]
fn traversal_attempts_never_leave_the_root() {
    let site = Site::new();
    let s = static_only(&site, &[]);
    for target in [
        "/../secret.txt",
        "/sub/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/sub/%2e%2e/%2e%2e/secret.txt",
        "/.%2e/secret.txt",
        "/%2e%2e%2fsecret.txt",
        "/sub%2f..%2f..%2fsecret.txt",
        "/..%2f..%2fsecret.txt",
        "/..\\secret.txt",
        "/..%5csecret.txt",
        "/sub\\..\\..\\secret.txt",
        "/a.txt%00.html",
        "/%00",
        "//secret.txt",
        "/%2fetc%2fpasswd",
        "/%252e%252e/secret.txt",
        "/./a.txt",
        "/sub/./n.txt",
        "http://localhost/../secret.txt",
    ] {
        let bytes = s.raw(
            format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("SECRET"), "{target}: {text}");
        assert!(
            text.starts_with("HTTP/1.1 404") || text.starts_with("HTTP/1.1 400"),
            "{target}: {text}"
        );
    }
    // curl --path-as-is sends them unnormalised too.
    let (_, body) = curl(&["--path-as-is", &s.url("/../secret.txt")]);
    assert!(!String::from_utf8_lossy(&body).contains("SECRET"));
    // The server is still fine.
    assert_eq!(get(&s, "/a.txt").text(), "hello\n");
}

#[test]
fn symlinks_out_of_the_root_are_refused_unless_allowed() {
    let site = Site::new();
    let s = static_only(&site, &[]);
    for target in ["/out", "/out-relative", "/outdir/inner.txt", "/outdir/"] {
        let r = get(&s, target);
        assert_eq!(r.status, 404, "{target}");
        assert!(!r.text().contains("SECRET"), "{target}");
    }
    // Symlinks that stay inside are fine, even to a directory.
    assert_eq!(get(&s, "/in").body, numbers().as_bytes());
    assert_eq!(get(&s, "/docs-link/report.txt").text(), "report\n");
    // A link inside the root to a dotfile is still a dotfile.
    assert_eq!(get(&s, "/env-link").status, 404);
    drop(s);

    let s = static_only(&site, &["--root-symlinks"]);
    assert_eq!(get(&s, "/out").text(), "TOP SECRET\n");
    assert_eq!(get(&s, "/outdir/inner.txt").text(), "TOP SECRET TOO\n");
    // Allowing symlinks does not allow `..`.
    let bytes = s.raw(b"GET /../secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(!String::from_utf8_lossy(&bytes).contains("SECRET"));
}

#[test]
fn dotfiles_are_hidden_unless_allowed() {
    let site = Site::new();
    let s = static_only(&site, &[]);
    for target in [
        "/.env",
        "/.git/config",
        "/.git/",
        "/sub/.hidden",
        "/%2eenv",
        "/.git",
    ] {
        let r = get(&s, target);
        assert_eq!(r.status, 404, "{target}");
        assert!(!r.text().contains("hunter2"), "{target}");
    }
    drop(s);
    let s = static_only(&site, &["--root-dotfiles"]);
    assert_eq!(get(&s, "/.env").text(), "PASSWORD=hunter2\n");
    assert_eq!(get(&s, "/sub/.hidden").text(), "hidden\n");
    assert_eq!(get(&s, "/.git/config").text(), "[core]\n");
    assert_eq!(get(&s, "/env-link").text(), "PASSWORD=hunter2\n");
}

#[test]
fn handler_answers_with_a_file() {
    let site = Site::new();
    let root = site.root();
    let secret = site.dir.join("secret.txt");
    let script = format!(
        r#"
return function(req)
  if req.path == "/report" then
    return {{ file = "docs/report.txt", headers = {{ ["x-from"] = "lua" }} }}
  elseif req.path == "/typed" then
    return {{ file = "docs/report.txt", headers = {{ ["content-type"] = "text/x-report" }} }}
  elseif req.path == "/numbers" then
    return {{ file = "sub/n.txt" }}
  elseif req.path == "/absolute" then
    return {{ file = "{}" }}
  elseif req.path == "/missing" then
    return {{ file = "no/such/file" }}
  elseif req.path == "/both" then
    return {{ file = "a.txt", body = "x" }}
  end
  return {{ status = 404, file = "pages/404.html" }}
end"#,
        secret.display()
    );
    let s = Server::start(&script, &["--root", &root]);
    let r = get(&s, "/report");
    assert_eq!((r.status, r.text().as_str()), (200, "report\n"));
    assert_eq!(r.header("x-from"), Some("lua"));
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert!(r.header("etag").is_some() && r.header("last-modified").is_some());
    assert_eq!(
        get(&s, "/typed").header("content-type"),
        Some("text/x-report")
    );
    // Status and body of a custom error page.
    let r = get(&s, "/nothing-here");
    assert_eq!(
        (r.status, r.text().as_str()),
        (404, "<h1>custom not found</h1>\n")
    );
    // The handler is trusted: an absolute path outside the root is its choice.
    assert_eq!(get(&s, "/absolute").text(), "TOP SECRET\n");
    // Conditional and range requests work on a handler's file too.
    let etag = get(&s, "/numbers").header("etag").unwrap().to_string();
    assert_eq!(
        request(&s, "GET", "/numbers", &[("If-None-Match", &etag)]).status,
        304
    );
    let r = request(&s, "GET", "/numbers", &[("Range", "bytes=0-1")]);
    assert_eq!((r.status, r.text().as_str()), (206, "1\n"));
    let r = request(&s, "GET", "/numbers", &[("Accept-Encoding", "gzip")]);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    let r = request(&s, "HEAD", "/report", &[]);
    assert_eq!((r.status, r.header("content-length")), (200, Some("7")));
    // A missing file is a 404, an ambiguous answer a 500; both are logged.
    assert_eq!(get(&s, "/missing").status, 404);
    assert_eq!(get(&s, "/both").status, 500);
    std::thread::sleep(Duration::from_millis(200));
    assert!(s.stderr().contains("no/such/file"), "{}", s.stderr());
}

#[test]
fn handler_file_without_a_root() {
    let site = Site::new();
    let file = site.path("sub/n.txt");
    let script = format!(
        r#"return function(req) return {{ file = "{}" }} end"#,
        file.display()
    );
    let s = Server::start(&script, &[]);
    let r = request(&s, "GET", "/anything", &[("Range", "bytes=-5")]);
    assert_eq!((r.status, r.text().as_str()), (206, "1000\n"));
}

/// Pattern byte at offset i of the large file.
fn pattern(i: u64) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

fn write_large(path: &Path, len: u64) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0;
    while at < len {
        let n = (len - at).min(buf.len() as u64) as usize;
        for (j, b) in buf[..n].iter_mut().enumerate() {
            *b = pattern(at + j as u64);
        }
        f.write_all(&buf[..n]).unwrap();
        at += n as u64;
    }
    f.flush().unwrap();
}

#[test]
fn a_50_mb_file_streams_with_low_memory() {
    const LEN: u64 = 50 << 20;
    let site = Site::new();
    write_large(&site.path("big.bin"), LEN);
    let s = static_only(&site, &["--send-timeout", "20"]);
    assert_eq!(get(&s, "/a.txt").status, 200);
    let base = s.rss_kib();

    // A client that reads slowly: the server waits on the socket, holding nothing.
    let mut c = s.connect();
    c.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let mut received: Vec<u8> = Vec::new();
    while received.len() < 1 << 20 {
        let n = c.read(&mut buf).unwrap();
        assert!(n > 0);
        received.extend_from_slice(&buf[..n]);
    }
    std::thread::sleep(Duration::from_millis(300));
    let during = s.rss_kib();
    let head_end = received.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&received[..head_end]).into_owned();
    assert!(head.contains(&format!("Content-Length: {LEN}")), "{head}");
    let mut at = 0u64;
    let check = |data: &[u8], at: &mut u64| {
        for &b in data {
            assert_eq!(b, pattern(*at), "byte {at}");
            *at += 1;
        }
    };
    check(&received[head_end..], &mut at);
    loop {
        let n = c.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        check(&buf[..n], &mut at);
    }
    assert_eq!(at, LEN);
    let after = s.rss_kib();
    eprintln!("server RSS: {base} KiB idle, {during} KiB mid-transfer, {after} KiB after");
    assert!(
        during < base + 8 * 1024,
        "RSS grew from {base} to {during} KiB"
    );
    assert!(
        after < base + 8 * 1024,
        "RSS grew from {base} to {after} KiB"
    );

    // Four at once with curl, all complete.
    let url = s.url("/big.bin");
    let clients: Vec<_> = (0..4)
        .map(|_| {
            Command::new("curl")
                .args(["-s", "-o", "/dev/null", "-w", "%{size_download}", &url])
                .output()
                .unwrap()
        })
        .collect();
    for out in clients {
        assert_eq!(String::from_utf8_lossy(&out.stdout), LEN.to_string());
    }
    assert!(s.rss_kib() < base + 8 * 1024);
}

#[test]
fn a_client_leaving_mid_file_ends_only_its_connection() {
    let site = Site::new();
    write_large(&site.path("big.bin"), 8 << 20);
    let s = static_only(&site, &[]);
    for _ in 0..3 {
        let mut c = s.connect();
        c.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut buf = [0u8; 4096];
        c.read_exact(&mut buf).unwrap();
        drop(c);
    }
    assert_eq!(get(&s, "/a.txt").text(), "hello\n");
}

#[test]
fn a_client_that_stops_reading_a_file_is_cut_after_the_send_timeout() {
    const LEN: u64 = 64 << 20;
    let site = Site::new();
    write_large(&site.path("big.bin"), LEN);
    let s = static_only(&site, &["--send-timeout", "1"]);
    let mut c = s.connect();
    c.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // Read nothing while the socket buffers fill and the server waits.
    std::thread::sleep(Duration::from_millis(2500));
    let got = read_all(&mut c, Duration::from_secs(5));
    assert!(
        (got.len() as u64) < LEN,
        "the whole file arrived ({} bytes)",
        got.len()
    );
    // The server went on serving others meanwhile and after.
    assert_eq!(get(&s, "/a.txt").text(), "hello\n");
}

#[test]
fn files_over_https() {
    let site = Site::new();
    write_large(&site.path("big.bin"), 5 << 20);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let cert_path = site.dir.join("cert.pem");
    let key_path = site.dir.join("key.pem");
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let root = site.root();
    let (cert_s, key_s) = (cert_path.to_string_lossy(), key_path.to_string_lossy());
    let s = Server::start_no_script(&[
        "--tls-listen",
        "127.0.0.1:0",
        "--tls-cert",
        &cert_s,
        "--tls-key",
        &key_s,
        "--root",
        &root,
    ]);
    let resolve = format!("localhost:{}:127.0.0.1", s.addr.port());
    let base = format!("https://localhost:{}", s.addr.port());
    let fetch = |extra: &[&str], path: &str| {
        let url = format!("{base}{path}");
        let mut args = vec!["--cacert", &cert_s, "--resolve", &resolve];
        args.extend_from_slice(extra);
        args.push(&url);
        curl(&args)
    };
    let (code, body) = fetch(&[], "/big.bin");
    assert_eq!((code, body.len()), (0, 5 << 20));
    assert!(body
        .iter()
        .enumerate()
        .all(|(i, &b)| b == pattern(i as u64)));
    let (code, body) = fetch(&["-r", "0-1,3-4", "-i"], "/a.txt");
    assert_eq!(code, 0);
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("multipart/byteranges"), "{text}");
    let (_, body) = fetch(&["-r", "1000000-1000009"], "/big.bin");
    assert_eq!(
        body,
        (1_000_000..1_000_010).map(pattern).collect::<Vec<_>>()
    );
    let (_, body) = fetch(&["-I"], "/sub/n.txt");
    let head = String::from_utf8_lossy(&body).to_ascii_lowercase();
    assert!(
        head.contains(&format!("content-length: {NUMBERS_LEN}")),
        "{head}"
    );
}

#[test]
fn root_options_are_validated() {
    let dir = temp_dir("bad-root");
    let script = dir.join("app.lua");
    std::fs::write(&script, ECHO_HANDLER).unwrap();
    let err = Server::start_script(&script, &dir, &["--root", "/no/such/dir"])
        .err()
        .expect("refused");
    assert!(
        err.contains("--root") && err.contains("/no/such/dir"),
        "{err}"
    );
    let err = Server::start_script(&script, &dir, &["--root", script.to_str().unwrap()])
        .err()
        .expect("refused");
    assert!(err.contains("not a directory"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
