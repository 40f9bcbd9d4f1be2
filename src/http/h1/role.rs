//! Parsing and validation of an HTTP/1.x request head (RFC 9112 §2-§6).
//!
//! httparse does the tokenising; this module adds the framing rules httparse
//! leaves to the caller (Host, Content-Length / Transfer-Encoding, size
//! limits) and turns every refusal into a status code.

use crate::http::message::{HeaderName, Method, Target};
use std::ops::Range;

/// Slots handed to httparse; `Limits::max_headers` is capped at this.
const HEADER_SLOTS: usize = 100;
/// RFC 9112 §2.2 asks servers to tolerate stray CRLFs between requests
/// (some clients add them after a body); past this many it is garbage.
const MAX_LEADING_EMPTY_LINES: usize = 8;
/// Room for method, two spaces, version and CRLF when judging whether an
/// unfinished request line is already too long for its target.
const REQUEST_LINE_SLACK: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Empty,
    Length(u64),
    Chunked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_header_bytes: usize,
    pub max_uri_bytes: usize,
    pub max_headers: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// Exactly as sent.
    pub method: Method,
    /// The request-target as sent, with its path and query.
    pub target: Target,
    pub version: Version,
    /// Names lower-cased, values byte-exact minus surrounding OWS, wire order.
    pub headers: Vec<crate::http::message::RequestHeader>,
    pub body: BodyKind,
    pub keep_alive: bool,
    pub expect_continue: bool,
}

/// A head the server must refuse: the status to answer with and a short reason for the log.
/// All of these close the connection (framing is in doubt).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadError {
    pub status: u16,
    pub reason: &'static str,
}

fn err<T>(status: u16, reason: &'static str) -> Result<T, HeadError> {
    Err(HeadError { status, reason })
}

/// Ok(None): need more bytes. Ok(Some((head, n))): head parsed, it used the first n bytes of buf.
pub fn parse_head(buf: &[u8], limits: &Limits) -> Result<Option<(RequestHead, usize)>, HeadError> {
    // Leading CRLFs are skipped here rather than by httparse, which would
    // skip any number of them and also bare LFs.
    let skipped = buf.chunks_exact(2).take_while(|p| p == b"\r\n").count();
    if skipped > MAX_LEADING_EMPTY_LINES {
        return err(400, "too many empty lines before request line");
    }
    let rest = &buf[skipped * 2..];

    // Left uninitialised: filling 100 slots would cost more than parsing
    // a typical head.
    let mut slots = [const { std::mem::MaybeUninit::uninit() }; HEADER_SLOTS];
    let mut req = httparse::Request::new(&mut []);
    let slots = &mut slots[..limits.max_headers.min(HEADER_SLOTS)];
    match req.parse_with_uninit_headers(rest, slots) {
        Ok(httparse::Status::Complete(len)) => {
            let used = skipped * 2 + len;
            if used > limits.max_header_bytes {
                return err(431, "request head too large");
            }
            build_head(&req, &rest[..len], limits).map(|head| Some((head, used)))
        }
        Ok(httparse::Status::Partial) => {
            check_partial(buf.len(), rest.len(), req.path, limits)?;
            Ok(None)
        }
        Err(httparse::Error::TooManyHeaders) => err(431, "too many header fields"),
        Err(httparse::Error::Version) => version_error(buf.len(), rest, limits),
        Err(_) => err(400, "malformed request head"),
    }
}

/// Size checks for a head that is not complete yet, so a client cannot make
/// us buffer without bound. `target` is set once the request-target is read.
fn check_partial(
    buf_len: usize,
    line_len: usize,
    target: Option<&str>,
    limits: &Limits,
) -> Result<(), HeadError> {
    let uri_too_long = match target {
        Some(t) => t.len() > limits.max_uri_bytes,
        // Still inside method or target: everything so far is request line.
        None => line_len > limits.max_uri_bytes + REQUEST_LINE_SLACK,
    };
    if uri_too_long {
        return err(414, "request-target too long");
    }
    if buf_len > limits.max_header_bytes {
        return err(431, "request head too large");
    }
    Ok(())
}

/// httparse only knows HTTP/1.0 and 1.1 and reports everything else as a
/// version error. Tell a well-formed but unsupported version (505) from
/// garbage (400), waiting for more bytes while it could still be either.
fn version_error(
    buf_len: usize,
    rest: &[u8],
    limits: &Limits,
) -> Result<Option<(RequestHead, usize)>, HeadError> {
    let line_end = rest.iter().position(|&b| b == b'\r' || b == b'\n');
    let line = &rest[..line_end.unwrap_or(rest.len())];
    let parts: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    let [_, target, version] = parts[..] else {
        return err(400, "malformed request line");
    };
    let matches_so_far = version.len() <= 8
        && version.iter().zip(b"HTTP/d.d").all(|(&b, &p)| {
            if p == b'd' {
                b.is_ascii_digit()
            } else {
                b == p
            }
        });
    match (matches_so_far, line_end) {
        (true, Some(_)) if version.len() == 8 => err(505, "HTTP version not supported"),
        (true, None) => {
            let target = std::str::from_utf8(target).ok();
            check_partial(buf_len, rest.len(), target, limits)?;
            Ok(None)
        }
        _ => err(400, "malformed HTTP version"),
    }
}

fn build_head(
    req: &httparse::Request,
    head: &[u8],
    limits: &Limits,
) -> Result<RequestHead, HeadError> {
    // httparse accepts a bare LF as line end; a front proxy that does not
    // could see different header boundaries, so refuse it.
    if has_bare_lf(head) {
        return err(400, "bare LF in request head");
    }
    // A complete parse always sets these three.
    let method = method_of(req.method.unwrap_or_default());
    let target = req.path.unwrap_or_default();
    let version = match req.version {
        Some(0) => Version::Http10,
        _ => Version::Http11,
    };
    if target.len() > limits.max_uri_bytes {
        return err(414, "request-target too long");
    }
    let (path, query) = split_target(&method, target)?;
    let target = Target::new(target.to_string(), path, query);

    let mut headers: Vec<crate::http::message::RequestHeader> =
        Vec::with_capacity(req.headers.len());
    let (mut hosts, mut has_te, mut has_cl) = (0, false, false);
    let (mut close, mut keep_alive_token, mut expects_continue) = (false, false, false);
    for h in req.headers.iter() {
        let value = trim_ows(h.value);
        // httparse already refuses these; keep the guarantee local.
        if value
            .iter()
            .fold(false, |bad, &b| bad | matches!(b, 0 | b'\r' | b'\n'))
        {
            return err(400, "NUL, CR or LF in header value");
        }
        let name = header_name(h.name);
        // What framing and the connection depend on, noted on the way.
        match name.as_ref() {
            "host" => hosts += 1,
            "transfer-encoding" => has_te = true,
            "content-length" => has_cl = true,
            "connection" => {
                for e in list_elements(value) {
                    close |= e.eq_ignore_ascii_case(b"close");
                    keep_alive_token |= e.eq_ignore_ascii_case(b"keep-alive");
                }
            }
            "expect" => expects_continue |= value.eq_ignore_ascii_case(b"100-continue"),
            _ => {}
        }
        headers.push((name, value.into()));
    }
    let values = |name| crate::http::message::header_values(&headers, name);

    match hosts {
        0 if version == Version::Http11 => return err(400, "missing Host"),
        0 | 1 => {}
        _ => return err(400, "more than one Host"),
    }

    let body = if has_te {
        if has_cl {
            return err(400, "both Transfer-Encoding and Content-Length");
        }
        // A 1.0 peer may not understand chunked framing (RFC 9112 §6.1).
        if version == Version::Http10 {
            return err(400, "Transfer-Encoding on HTTP/1.0");
        }
        transfer_coding(values("transfer-encoding"))?
    } else if has_cl {
        match content_length(values("content-length"))? {
            0 => BodyKind::Empty,
            n => BodyKind::Length(n),
        }
    } else {
        BodyKind::Empty
    };

    let keep_alive = !close
        && match version {
            Version::Http11 => true,
            Version::Http10 => keep_alive_token,
        };
    // Without a body there is nothing to wait for (RFC 9110 §10.1.1).
    let expect_continue = version == Version::Http11 && body != BodyKind::Empty && expects_continue;

    Ok(RequestHead {
        method,
        target,
        version,
        headers,
        body,
        keep_alive,
        expect_continue,
    })
}

/// The method, without an allocation for the standard ones (methods are
/// case-sensitive: `get` is another, unknown method).
fn method_of(name: &str) -> Method {
    const STANDARD: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE",
    ];
    match STANDARD.iter().find(|m| **m == name) {
        Some(m) => Method::Borrowed(m),
        None => Method::Owned(name.to_string()),
    }
}

/// A header name in lower case, without an allocation for the common ones
/// (a browser sends a dozen of them with every request).
fn header_name(name: &str) -> HeaderName {
    let mut buf = [0u8; 32];
    if let Some(lower) = buf.get_mut(..name.len()) {
        lower.copy_from_slice(name.as_bytes());
        lower.make_ascii_lowercase();
        // Matched as bytes: no UTF-8 check of `lower` at run time (the
        // static names are checked when compiled).
        macro_rules! common {
            ($($n:literal)*) => {
                match &*lower {
                    $($n => return HeaderName::Borrowed(const { static_str($n) }),)*
                    _ => {}
                }
            };
        }
        common!(
            b"host" b"user-agent" b"accept" b"accept-encoding" b"accept-language"
            b"connection" b"cookie" b"content-type" b"content-length" b"referer"
            b"origin" b"cache-control" b"pragma" b"authorization" b"range" b"if-range"
            b"if-none-match" b"if-modified-since" b"if-match" b"if-unmodified-since"
            b"transfer-encoding" b"expect" b"upgrade" b"te" b"priority" b"dnt"
            b"upgrade-insecure-requests" b"x-forwarded-for" b"x-forwarded-proto"
            b"x-real-ip" b"x-requested-with" b"sec-fetch-site" b"sec-fetch-mode"
            b"sec-fetch-dest" b"sec-fetch-user" b"sec-ch-ua" b"sec-ch-ua-mobile"
            b"sec-ch-ua-platform"
        );
    }
    HeaderName::Owned(name.to_ascii_lowercase())
}

const fn static_str(bytes: &'static [u8]) -> &'static str {
    match std::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(_) => panic!("a common header name is not UTF-8"),
    }
}

/// Where the path and the query lie in the request-target (RFC 9112 §3.2;
/// see [`Target`]). Authority-form is refused: this server is no proxy.
fn split_target(method: &str, target: &str) -> Result<(Range<usize>, Range<usize>), HeadError> {
    if target == "*" {
        return if method == "OPTIONS" {
            Ok((0..1, 1..1))
        } else {
            err(400, "asterisk-form target without OPTIONS")
        };
    }
    // A fragment is never part of a request-target.
    if target.as_bytes().contains(&b'#') {
        return err(400, "fragment in request-target");
    }
    let path_query = if target.starts_with('/') {
        target
    } else {
        let after_scheme = strip_prefix_ignore_case(target, "http://")
            .or_else(|| strip_prefix_ignore_case(target, "https://"))
            .ok_or(HeadError {
                status: 400,
                reason: "invalid request-target",
            })?;
        let auth_end = after_scheme.find(['/', '?']).unwrap_or(after_scheme.len());
        let authority = &after_scheme[..auth_end];
        // Userinfo in an http(s) URI is deprecated and a phishing vector
        // (RFC 9110 §4.2.4).
        if authority.is_empty() || authority.contains('@') {
            return err(400, "invalid authority in request-target");
        }
        &after_scheme[auth_end..]
    };
    let start = target.len() - path_query.len();
    Ok(
        match path_query.as_bytes().iter().position(|&b| b == b'?') {
            Some(q) => (start..start + q, start + q + 1..target.len()),
            None => (start..target.len(), target.len()..target.len()),
        },
    )
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// The body framing a Transfer-Encoding list asks for (RFC 9112 §6.1, §6.3).
fn transfer_coding<'a>(values: impl Iterator<Item = &'a [u8]>) -> Result<BodyKind, HeadError> {
    let codings: Vec<&[u8]> = values.flat_map(list_elements).collect();
    let is_chunked = |c: &[u8]| c.eq_ignore_ascii_case(b"chunked");
    let chunked = codings.iter().filter(|c| is_chunked(c)).count();
    match codings.last() {
        None => err(400, "empty Transfer-Encoding"),
        Some(last) if chunked > 1 || (chunked == 1 && !is_chunked(last)) => {
            err(400, "chunked is not the final transfer coding exactly once")
        }
        _ if chunked < codings.len() => err(501, "unsupported transfer coding"),
        _ => Ok(BodyKind::Chunked),
    }
}

/// One length from all Content-Length fields; duplicates must agree
/// (RFC 9112 §6.3 item 5).
fn content_length<'a>(values: impl Iterator<Item = &'a [u8]>) -> Result<u64, HeadError> {
    let mut length = None;
    for value in values {
        // Split without dropping empty elements: "5," is malformed here.
        for element in value.split(|&b| b == b',').map(trim_ows) {
            if element.is_empty() || !element.iter().all(u8::is_ascii_digit) {
                return err(400, "invalid Content-Length");
            }
            let n = element.iter().try_fold(0u64, |acc, &d| {
                acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
            });
            let Some(n) = n else {
                return err(400, "Content-Length overflows");
            };
            if length.is_some_and(|l| l != n) {
                return err(400, "conflicting Content-Length values");
            }
            length = Some(n);
        }
    }
    // The caller only asks when at least one field exists, whose value was
    // checked above, so `length` is set.
    Ok(length.unwrap_or_default())
}

/// Non-empty elements of a comma-separated field value (RFC 9110 §5.6.1).
fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|e| !e.is_empty())
}

/// Whether an LF is not preceded by CR. Every byte of the head is looked at,
/// without an early exit: the compiler turns that into vector instructions,
/// which a browser's head of several hundred bytes is worth.
fn has_bare_lf(head: &[u8]) -> bool {
    head.first() == Some(&b'\n')
        || head
            .iter()
            .zip(&head[1.min(head.len())..])
            .fold(false, |bare, (&prev, &b)| {
                bare | ((b == b'\n') & (prev != b'\r'))
            })
}

fn trim_ows(v: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = v.iter().position(|b| !is_ows(b)).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !is_ows(b)).map_or(start, |i| i + 1);
    &v[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_header_bytes: 8192,
        max_uri_bytes: 1024,
        max_headers: 100,
    };

    fn parse_with(buf: &[u8], limits: &Limits) -> Result<Option<(RequestHead, usize)>, HeadError> {
        parse_head(buf, limits)
    }

    /// Parses a buffer that must hold exactly one complete head.
    fn head(buf: &[u8]) -> RequestHead {
        let (h, n) = parse_with(buf, &LIMITS).unwrap().unwrap();
        assert_eq!(n, buf.len());
        h
    }

    fn status(buf: &[u8]) -> u16 {
        parse_with(buf, &LIMITS).unwrap_err().status
    }

    /// A 1.1 request with Host and the given extra header lines.
    fn req(extra: &str) -> Vec<u8> {
        format!("POST /x HTTP/1.1\r\nHost: h\r\n{extra}\r\n").into_bytes()
    }

    fn value<'a>(h: &'a RequestHead, name: &str) -> Vec<&'a [u8]> {
        h.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
            .collect()
    }

    #[test]
    fn simple_get() {
        let h = head(b"GET /a%20b/c?x=1&y HTTP/1.1\r\nHost: example.com\r\nX-Thing:  two  words \t\r\nAccept:\r\n\r\n");
        assert_eq!(h.method, "GET");
        assert_eq!(h.target.as_str(), "/a%20b/c?x=1&y");
        assert_eq!(h.target.path(), "/a%20b/c");
        assert_eq!(h.target.query(), "x=1&y");
        assert_eq!(h.version, Version::Http11);
        assert_eq!(
            h.headers,
            vec![
                ("host".into(), b"example.com"[..].into()),
                ("x-thing".into(), b"two  words"[..].into()),
                ("accept".into(), b""[..].into()),
            ]
        );
        assert_eq!(h.body, BodyKind::Empty);
        assert!(h.keep_alive);
        assert!(!h.expect_continue);
    }

    #[test]
    fn method_kept_as_sent() {
        assert_eq!(head(b"pAtCh / HTTP/1.1\r\nHost: h\r\n\r\n").method, "pAtCh");
    }

    #[test]
    fn empty_query_and_no_query() {
        let h = head(b"GET /p? HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!((h.target.path(), h.target.query()), ("/p", ""));
        let h = head(b"GET /p HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!((h.target.path(), h.target.query()), ("/p", ""));
    }

    #[test]
    fn obs_text_kept_byte_exact() {
        let h = head(b"GET / HTTP/1.1\r\nHost: h\r\nX-Raw: \xe9t\xff\x80 \"q\"\r\n\r\n");
        assert_eq!(value(&h, "x-raw"), vec![&b"\xe9t\xff\x80 \"q\""[..]]);
    }

    #[test]
    fn pipelined_bytes_not_consumed() {
        let first = b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n";
        let mut buf = first.to_vec();
        buf.extend_from_slice(b"abcGET /b HTTP/1.1\r\nHost: h\r\n\r\n");
        let (h, n) = parse_with(&buf, &LIMITS).unwrap().unwrap();
        assert_eq!(n, first.len());
        assert_eq!(h.body, BodyKind::Length(3));
    }

    #[test]
    fn every_prefix_needs_more() {
        let full = b"\r\nPUT /up?q HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
        for end in 0..full.len() {
            assert_eq!(parse_with(&full[..end], &LIMITS), Ok(None), "prefix {end}");
        }
        assert_eq!(head(full).body, BodyKind::Chunked);
    }

    #[test]
    fn leading_empty_lines_skipped() {
        let buf = b"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
        let (h, n) = parse_with(buf, &LIMITS).unwrap().unwrap();
        assert_eq!((h.target.path(), n), ("/", buf.len()));
        let mut many = b"\r\n".repeat(MAX_LEADING_EMPTY_LINES);
        many.extend_from_slice(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        assert!(parse_with(&many, &LIMITS).unwrap().is_some());
        let mut too_many = b"\r\n".repeat(MAX_LEADING_EMPTY_LINES + 1);
        assert_eq!(parse_with(&too_many, &LIMITS).unwrap_err().status, 400);
        too_many.extend_from_slice(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(status(&too_many), 400);
        // Bare LF before the request line is refused like any bare LF.
        assert_eq!(status(b"\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    }

    #[test]
    fn bare_lf_refused() {
        assert_eq!(status(b"GET / HTTP/1.1\nHost: h\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: h\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: h\r\n\n"), 400);
        assert!(has_bare_lf(b"\n"));
        assert!(!has_bare_lf(b"") && !has_bare_lf(b"\r\n") && !has_bare_lf(b"x"));
        // Past the first vector's worth of bytes too.
        let mut head = b"GET / HTTP/1.1\r\n".repeat(20);
        assert!(!has_bare_lf(&head));
        head.extend_from_slice(b"X: y\n");
        assert!(has_bare_lf(&head));
    }

    #[test]
    fn standard_methods_are_not_allocated() {
        assert!(matches!(method_of("GET"), Method::Borrowed("GET")));
        assert!(matches!(method_of("DELETE"), Method::Borrowed("DELETE")));
        assert!(matches!(method_of("get"), Method::Owned(_)));
        assert_eq!(method_of("PROPFIND"), "PROPFIND");
    }

    #[test]
    fn header_names_are_lower_case_and_common_ones_static() {
        assert!(matches!(header_name("Host"), HeaderName::Borrowed("host")));
        assert!(matches!(
            header_name("SEC-CH-UA-PLATFORM"),
            HeaderName::Borrowed("sec-ch-ua-platform")
        ));
        assert!(matches!(header_name("X-Thing"), HeaderName::Owned(n) if n == "x-thing"));
        let long = format!("X-{}", "Long".repeat(20));
        assert_eq!(header_name(&long), long.to_ascii_lowercase());
    }

    #[test]
    fn incomplete_head_over_limit_is_431() {
        let limits = Limits {
            max_header_bytes: 100,
            ..LIMITS
        };
        let mut buf = b"GET / HTTP/1.1\r\nHost: h\r\nX: ".to_vec();
        buf.resize(100, b'a');
        assert_eq!(parse_with(&buf, &limits), Ok(None));
        buf.push(b'a');
        assert_eq!(parse_with(&buf, &limits).unwrap_err().status, 431);
    }

    #[test]
    fn complete_head_over_limit_is_431() {
        let buf = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
        let exact = Limits {
            max_header_bytes: buf.len(),
            ..LIMITS
        };
        assert!(parse_with(buf, &exact).unwrap().is_some());
        let small = Limits {
            max_header_bytes: buf.len() - 1,
            ..LIMITS
        };
        assert_eq!(parse_with(buf, &small).unwrap_err().status, 431);
    }

    #[test]
    fn long_target_is_414() {
        let limits = Limits {
            max_uri_bytes: 20,
            ..LIMITS
        };
        let ok = format!("GET /{} HTTP/1.1\r\nHost: h\r\n\r\n", "a".repeat(19));
        assert!(parse_with(ok.as_bytes(), &limits).unwrap().is_some());
        let long = format!("GET /{} HTTP/1.1\r\nHost: h\r\n\r\n", "a".repeat(20));
        assert_eq!(
            parse_with(long.as_bytes(), &limits).unwrap_err().status,
            414
        );
        // Request line done, headers still arriving: no need to wait.
        let partial = format!("GET /{} HTTP/1.1\r\nHost: h\r\n", "a".repeat(20));
        assert_eq!(
            parse_with(partial.as_bytes(), &limits).unwrap_err().status,
            414
        );
        // Target still arriving: refused once past the slack.
        let mut line = b"GET /".to_vec();
        line.resize(20 + REQUEST_LINE_SLACK, b'a');
        assert_eq!(parse_with(&line, &limits), Ok(None));
        line.push(b'a');
        assert_eq!(parse_with(&line, &limits).unwrap_err().status, 414);
    }

    #[test]
    fn long_request_line_is_414_not_431() {
        let limits = Limits {
            max_header_bytes: 4096,
            max_uri_bytes: 4096,
            max_headers: 100,
        };
        let mut line = b"GET /".to_vec();
        line.resize(5000, b'a');
        assert_eq!(parse_with(&line, &limits).unwrap_err().status, 414);
    }

    #[test]
    fn too_many_headers_is_431() {
        let limits = Limits {
            max_headers: 3,
            ..LIMITS
        };
        let ok = b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n";
        assert!(parse_with(ok, &limits).unwrap().is_some());
        let over = b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
        assert_eq!(parse_with(over, &limits).unwrap_err().status, 431);
        // Limits above the slot count are capped, not a panic.
        let huge = Limits {
            max_headers: 1000,
            ..LIMITS
        };
        let mut buf = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
        for i in 0..HEADER_SLOTS {
            buf.extend_from_slice(format!("X{i}: v\r\n").as_bytes());
        }
        buf.extend_from_slice(b"\r\n");
        assert_eq!(parse_with(&buf, &huge).unwrap_err().status, 431);
    }

    #[test]
    fn malformed_heads_are_400() {
        let cases: &[&[u8]] = &[
            b"GET / HTTP/1.1\r\nBad Name: x\r\nHost: h\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost : h\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n folded\r\n\r\n",
            b"GET / HTTP/1.1\r\n Host: h\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\n: empty\r\n\r\n",
            b"G(T / HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET / http/1.1\r\nHost: h\r\n\r\n",
            b"GET / HTTP/1.10\r\nHost: h\r\n\r\n",
            b"GET / HTTP/2\r\nHost: h\r\n\r\n",
            b"GET / HTTP/12.0\r\nHost: h\r\n\r\n",
            b"GET /a b HTTP/2.0\r\nHost: h\r\n\r\n",
            b"GET /\x01 HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET /\xff HTTP/1.1\r\nHost: h\r\n\r\n",
        ];
        for case in cases {
            assert_eq!(status(case), 400, "{}", String::from_utf8_lossy(case));
        }
    }

    #[test]
    fn unsupported_version_is_505() {
        assert_eq!(status(b"GET / HTTP/2.0\r\nHost: h\r\n\r\n"), 505);
        assert_eq!(status(b"GET / HTTP/1.2\r\nHost: h\r\n\r\n"), 505);
        assert_eq!(status(b"GET / HTTP/0.9\r\n\r\n"), 505);
        // Could still turn out well-formed: wait.
        assert_eq!(parse_with(b"GET / HTTP/2", &LIMITS), Ok(None));
        assert_eq!(parse_with(b"GET / HTTP/2.0", &LIMITS), Ok(None));
        assert_eq!(status(b"GET / HTTP/2x"), 400);
    }

    #[test]
    fn http10_parsed() {
        let h = head(b"GET / HTTP/1.0\r\n\r\n");
        assert_eq!(h.version, Version::Http10);
        assert!(!h.keep_alive);
    }

    #[test]
    fn host_rules() {
        assert_eq!(status(b"GET / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\nHOST: a\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
        assert!(head(b"GET / HTTP/1.1\r\nHost:\r\n\r\n").keep_alive);
    }

    #[test]
    fn transfer_encoding_rules() {
        assert_eq!(
            head(&req("Transfer-Encoding: chunked\r\n")).body,
            BodyKind::Chunked
        );
        assert_eq!(
            head(&req("transfer-encoding:  ChUnKeD \r\n")).body,
            BodyKind::Chunked
        );
        assert_eq!(
            head(&req("Transfer-Encoding: ,chunked,\r\n")).body,
            BodyKind::Chunked
        );
        assert_eq!(
            status(&req("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n")),
            400
        );
        assert_eq!(
            status(&req("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n")),
            400
        );
        assert_eq!(
            status(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            400
        );
        assert_eq!(status(&req("Transfer-Encoding: chunked, gzip\r\n")), 400);
        assert_eq!(status(&req("Transfer-Encoding: chunked, chunked\r\n")), 400);
        assert_eq!(
            status(&req("Transfer-Encoding: gzip, chunked, chunked\r\n")),
            400
        );
        assert_eq!(status(&req("Transfer-Encoding:\r\n")), 400);
        assert_eq!(status(&req("Transfer-Encoding: gzip, chunked\r\n")), 501);
        assert_eq!(status(&req("Transfer-Encoding: gzip\r\n")), 501);
        assert_eq!(status(&req("Transfer-Encoding: identity\r\n")), 501);
        assert_eq!(status(&req("Transfer-Encoding: foo\r\n")), 501);
        assert_eq!(status(&req("Transfer-Encoding: chunked;x=1\r\n")), 501);
    }

    #[test]
    fn transfer_encoding_across_lines() {
        let split = "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n";
        assert_eq!(status(&req(split)), 501);
        let wrong_order = "Transfer-Encoding: chunked\r\nX: y\r\nTransfer-Encoding: gzip\r\n";
        assert_eq!(status(&req(wrong_order)), 400);
        let twice = "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n";
        assert_eq!(status(&req(twice)), 400);
        let empty_then_chunked = "Transfer-Encoding: \r\nTransfer-Encoding: chunked\r\n";
        assert_eq!(head(&req(empty_then_chunked)).body, BodyKind::Chunked);
    }

    #[test]
    fn content_length_rules() {
        let body = |cl: &str| head(&req(&format!("Content-Length: {cl}\r\n"))).body;
        let cl_status = |cl: &str| status(&req(&format!("Content-Length: {cl}\r\n")));
        assert_eq!(body("10"), BodyKind::Length(10));
        assert_eq!(body("0"), BodyKind::Empty);
        assert_eq!(body("000"), BodyKind::Empty);
        assert_eq!(body("007"), BodyKind::Length(7));
        assert_eq!(body("5, 5,5"), BodyKind::Length(5));
        assert_eq!(body("18446744073709551615"), BodyKind::Length(u64::MAX));
        for bad in [
            "",
            "+5",
            "-5",
            "5 5",
            "0x5",
            "5,",
            ",5",
            "5, 6",
            "abc",
            "5.0",
            "1e3",
            "18446744073709551616",
            "99999999999999999999999",
        ] {
            assert_eq!(cl_status(bad), 400, "{bad:?}");
        }
        let same = "Content-Length: 5\r\nContent-Length: 5\r\n";
        assert_eq!(head(&req(same)).body, BodyKind::Length(5));
        let differ = "Content-Length: 5\r\nContent-Length: 6\r\n";
        assert_eq!(status(&req(differ)), 400);
        let one_bad = "Content-Length: 5\r\nContent-Length: x\r\n";
        assert_eq!(status(&req(one_bad)), 400);
    }

    #[test]
    fn keep_alive_rules() {
        let ka = |buf: &[u8]| head(buf).keep_alive;
        assert!(ka(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
        assert!(!ka(
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
        ));
        assert!(!ka(
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, CLOSE\r\n\r\n"
        ));
        assert!(!ka(
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: te\r\nConnection: Close\r\n\r\n"
        ));
        assert!(ka(
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n"
        ));
        assert!(!ka(b"GET / HTTP/1.0\r\n\r\n"));
        assert!(ka(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
        assert!(ka(b"GET / HTTP/1.0\r\nConnection: foo,keep-alive\r\n\r\n"));
        assert!(!ka(b"GET / HTTP/1.0\r\nConnection: keep-alive-ish\r\n\r\n"));
        assert!(!ka(
            b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"
        ));
    }

    #[test]
    fn expect_continue_rules() {
        let ec = |extra: &str| head(&req(extra)).expect_continue;
        assert!(ec("Expect: 100-Continue\r\nContent-Length: 5\r\n"));
        assert!(ec("Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n"));
        assert!(!ec("Expect: 100-continue\r\n"));
        assert!(!ec("Expect: 100-continue\r\nContent-Length: 0\r\n"));
        assert!(!ec("Expect: 200-ok\r\nContent-Length: 5\r\n"));
        assert!(!ec("Content-Length: 5\r\n"));
        let h10 = b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n";
        assert!(!head(h10).expect_continue);
    }

    #[test]
    fn target_forms() {
        let h = head(b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!((h.target.path(), h.target.query()), ("*", ""));
        assert_eq!(status(b"GET * HTTP/1.1\r\nHost: h\r\n\r\n"), 400);

        let abs = |t: &str| {
            let h = head(format!("GET {t} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes());
            assert_eq!(h.target.as_str(), t);
            (h.target.path().to_string(), h.target.query().to_string())
        };
        let pq = |p: &str, q: &str| (p.to_string(), q.to_string());
        assert_eq!(abs("http://example.com/a/b?c=d"), pq("/a/b", "c=d"));
        assert_eq!(abs("http://example.com:8080"), pq("/", ""));
        assert_eq!(abs("HTTP://example.com?x"), pq("/", "x"));
        assert_eq!(abs("https://example.com/s"), pq("/s", ""));
        assert_eq!(abs("//double/slash"), pq("//double/slash", ""));

        for bad in [
            "http:///nohost",
            "http://user@host/",
            "ftp://host/",
            "example.com:443",
            "a/b",
            "/p#frag",
            "?q",
        ] {
            let buf = format!("GET {bad} HTTP/1.1\r\nHost: h\r\n\r\n");
            assert_eq!(status(buf.as_bytes()), 400, "{bad}");
        }
    }
}
