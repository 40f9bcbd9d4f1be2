//! Static files: a document root served before the handler (`root`), and
//! files a handler answers with (`{ file = "path" }`).
//!
//! A request path is decoded segment by segment and refused (left to the
//! handler) when a segment is `.` or `..`, contains `/` (an encoded `%2f`),
//! a backslash or NUL, or is empty (`//`); dotfiles too unless
//! `root_dotfiles`. The file opened must really lie under the root, symlinks
//! resolved, unless `root_symlinks`. What it finds becomes a [`Response`]
//! whose body is [`ResponseBody::File`]: the protocol writes the head and the
//! worker sends the bytes from the file (sendfile on plain TCP).
//!
//! HTTP (RFC 9110): Content-Type from [`mime`], a strong ETag and
//! Last-Modified, the preconditions of §13 in their order (If-Match,
//! If-Unmodified-Since -> 412; If-None-Match, If-Modified-Since -> 304),
//! Range with If-Range (206, `multipart/byteranges` for several ranges, 416),
//! `index.html` for a directory path and a 301 adding the slash to a
//! directory path without one, and `.br`/`.gz` siblings chosen by
//! Accept-Encoding (with `Vary: Accept-Encoding` whenever a sibling exists).
//! Methods other than GET and HEAD on a static file get 405 with Allow.

pub mod cache;
pub mod listing;
pub mod mime;
pub mod range;

use crate::config::Config;
use crate::escape::percent_decode;
use crate::http::message::{FileBody, Request, Response, ResponseBody};
use cache::{Cache, Confine, Opened};
use range::Ranges;
use std::borrow::Cow;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

type Headers = Vec<crate::http::message::Header>;

/// Precompressed siblings, in order of preference: coding and file suffix.
const SIBLINGS: [(&str, &str); 2] = [("br", ".br"), ("gzip", ".gz")];

/// The parts of a request that decide how a file is answered.
#[derive(Clone, Copy)]
pub struct Ask<'a> {
    pub method: &'a str,
    pub headers: &'a [crate::http::message::RequestHeader],
}

impl<'a> Ask<'a> {
    pub fn of(req: &'a Request) -> Ask<'a> {
        Ask {
            method: &req.method,
            headers: &req.headers,
        }
    }

    fn header(&self, name: &'static str) -> Option<&'a [u8]> {
        self.all(name).next()
    }

    /// Every value of a header (names are lower case).
    fn all(&self, name: &'static str) -> impl Iterator<Item = &'a [u8]> + 'a {
        crate::http::message::header_values(self.headers, name)
    }

    fn get_or_head(&self) -> bool {
        self.method == "GET" || self.method == "HEAD"
    }
}

/// One worker's static file server: its settings and its descriptor cache.
pub struct Files {
    /// The canonical document root.
    root: Option<PathBuf>,
    symlinks: bool,
    dotfiles: bool,
    listing: bool,
    cache_control: Option<Vec<u8>>,
    cache: Cache,
}

impl Files {
    pub fn new(config: &Config) -> Files {
        Files {
            root: config.root.clone(),
            symlinks: config.root_symlinks,
            dotfiles: config.root_dotfiles,
            listing: config.root_listing,
            cache_control: config.root_cache_control.clone().map(String::into_bytes),
            cache: Cache::default(),
        }
    }

    /// The file or directory at `path`; `confined` for a request path under
    /// the root (the cache keys on it, so a file a handler named never lets
    /// a static request past the checks).
    fn lookup(&mut self, path: &Path, confined: bool) -> Option<Opened> {
        let confine = match (&self.root, confined && !self.symlinks) {
            (Some(root), true) => Confine::Root {
                root,
                dotfiles: self.dotfiles,
            },
            _ => Confine::No,
        };
        self.cache.get(path, confine)
    }

    /// Answers `req` from the document root, or None to leave it to the
    /// handler (no root, no such file, or a path refused for safety).
    pub fn serve(&mut self, req: &Request) -> Option<Response> {
        let root = self.root.as_deref()?;
        let (rel, dir_path) = request_path(req.target.path(), self.dotfiles)?;
        let target = root.join(&rel);
        let ask = Ask::of(req);
        if dir_path {
            let index = target.join("index.html");
            if let Some(file) = self.lookup(&index, true).filter(|o| !o.meta.is_dir) {
                if !ask.get_or_head() {
                    return Some(method_not_allowed());
                }
                return Some(self.file_response(file, &index, ask, 200, Vec::new(), true));
            }
            let dir = self.lookup(&target, true).filter(|o| o.meta.is_dir)?;
            if !self.listing {
                return None;
            }
            if !ask.get_or_head() {
                return Some(method_not_allowed());
            }
            let shown = percent_decode(req.target.path().as_bytes(), false);
            return Some(match listing::page(&dir.file, &shown, self.dotfiles) {
                Ok(page) => {
                    let mut r = Response::new(200, "text/html; charset=utf-8", page);
                    r.headers
                        .to_mut()
                        .push(("cache-control".into(), b"no-cache"[..].into()));
                    r
                }
                Err(e) => {
                    crate::log::error(&format!("cannot list {}: {e}", target.display()));
                    Response::error(500, None)
                }
            });
        }
        let found = self.lookup(&target, true)?;
        if !ask.get_or_head() {
            return Some(method_not_allowed());
        }
        if found.meta.is_dir {
            let mut location = format!("{}/", req.target.path());
            if !req.target.query().is_empty() {
                location.push('?');
                location.push_str(req.target.query());
            }
            let mut r = Response::new(
                301,
                "text/html; charset=utf-8",
                crate::http::status::error_page(301, None),
            );
            r.headers
                .to_mut()
                .push(("location".into(), location.into_bytes().into()));
            return Some(r);
        }
        Some(self.file_response(found, &target, ask, 200, Vec::new(), true))
    }

    /// Turns a handler's `{ file = "path" }` answer into a response with the
    /// file as its body, keeping the handler's status and headers. Other
    /// answers pass through unchanged. A relative path is taken from the
    /// root (or the working directory without one); the handler is trusted,
    /// so the root's confinement does not apply.
    pub fn handler_file(
        &mut self,
        response: Response,
        method: &str,
        headers: &[crate::http::message::RequestHeader],
    ) -> Response {
        let Response {
            status,
            headers: their_headers,
            body,
        } = response;
        let path = match body {
            ResponseBody::Path(p) => p,
            body => {
                return Response {
                    status,
                    headers: their_headers,
                    body,
                }
            }
        };
        let path = match &self.root {
            Some(root) if path.is_relative() => root.join(&path),
            _ => path,
        };
        match self.lookup(&path, false).filter(|o| !o.meta.is_dir) {
            Some(file) => {
                let ask = Ask { method, headers };
                self.file_response(file, &path, ask, status, their_headers.into_owned(), false)
            }
            None => {
                crate::log::error(&format!(
                    "the handler answered with file {}, which is not a readable file (404)",
                    path.display()
                ));
                Response::error(404, None)
            }
        }
    }

    /// The response sending `file` (found at `path`) for `ask`.
    fn file_response(
        &mut self,
        file: Opened,
        path: &Path,
        ask: Ask,
        status: u16,
        mut headers: Headers,
        confined: bool,
    ) -> Response {
        let content_type: Cow<'static, [u8]> = match header_value(&headers, "content-type") {
            Some(t) => t.to_vec().into(),
            None => {
                let name = path.file_name().map_or(&b""[..], |n| n.as_bytes());
                let t = mime::for_name(name).as_bytes();
                headers.push(("content-type".into(), t.into()));
                t.into()
            }
        };
        // A precompressed sibling, when the client takes its coding.
        let mut chosen = file;
        if header_value(&headers, "content-encoding").is_none() {
            let accept = ask.header("accept-encoding");
            let mut vary = false;
            for (coding, suffix) in SIBLINGS {
                let mut name = path.as_os_str().to_os_string();
                name.push(suffix);
                let Some(sibling) = self
                    .lookup(Path::new(&name), confined)
                    .filter(|o| !o.meta.is_dir)
                else {
                    continue;
                };
                vary = true;
                if accept.is_some_and(|a| accepts(a, coding)) {
                    chosen = sibling;
                    headers.push(("content-encoding".into(), coding.as_bytes().into()));
                    break;
                }
            }
            if vary {
                headers.push(("vary".into(), b"Accept-Encoding"[..].into()));
            }
        }
        // Our validators describe the bytes we send, so they replace any the handler set.
        headers.retain(|(n, _)| {
            !n.eq_ignore_ascii_case("etag") && !n.eq_ignore_ascii_case("last-modified")
        });
        let etag = chosen.etag();
        let modified = chosen.modified();
        headers.push(("etag".into(), etag.clone().into_bytes().into()));
        if let Some(m) = modified {
            headers.push((
                "last-modified".into(),
                crate::http::date::http_date(m).into_bytes().into(),
            ));
        }
        if let Some(cc) = &self.cache_control {
            if header_value(&headers, "cache-control").is_none() {
                headers.push(("cache-control".into(), cc.clone().into()));
            }
        }
        let len = chosen.meta.len;
        if status != 200 || !ask.get_or_head() {
            return Response {
                status,
                headers: headers.into(),
                body: ResponseBody::File(FileBody::range(chosen.file, 0, len)),
            };
        }
        match preconditions(ask, &etag, modified) {
            Precondition::Failed => return Response::error(412, None),
            Precondition::NotModified => {
                headers.retain(|(n, _)| {
                    !n.eq_ignore_ascii_case("content-type")
                        && !n.eq_ignore_ascii_case("content-encoding")
                });
                return Response {
                    status: 304,
                    headers: headers.into(),
                    body: ResponseBody::Full(Vec::new().into()),
                };
            }
            Precondition::Go => {}
        }
        headers.push(("accept-ranges".into(), b"bytes"[..].into()));
        let ranges = match ask.header("range") {
            Some(r) if ask.method == "GET" && if_range_holds(ask, &etag, modified) => {
                range::parse(r, len)
            }
            _ => Ranges::Whole,
        };
        match ranges {
            Ranges::Whole => Response {
                status: 200,
                headers: headers.into(),
                body: ResponseBody::File(FileBody::range(chosen.file, 0, len)),
            },
            Ranges::Unsatisfiable => {
                let mut r = Response::error(416, None);
                r.headers.to_mut().push((
                    "content-range".into(),
                    format!("bytes */{len}").into_bytes().into(),
                ));
                r
            }
            Ranges::Parts(parts) if parts.len() == 1 => {
                let (first, last) = parts[0];
                headers.push((
                    "content-range".into(),
                    range::content_range(first, last, len).into_bytes().into(),
                ));
                Response {
                    status: 206,
                    headers: headers.into(),
                    body: ResponseBody::File(FileBody::range(chosen.file, first, last - first + 1)),
                }
            }
            Ranges::Parts(parts) => {
                let boundary = range::boundary();
                headers.retain(|(n, _)| !n.eq_ignore_ascii_case("content-type"));
                headers.push((
                    "content-type".into(),
                    format!("multipart/byteranges; boundary={boundary}")
                        .into_bytes()
                        .into(),
                ));
                let body = range::multipart(chosen.file, &parts, len, &content_type, &boundary);
                Response {
                    status: 206,
                    headers: headers.into(),
                    body: ResponseBody::File(body),
                }
            }
        }
    }
}

fn header_value<'a>(headers: &'a Headers, name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| &v[..])
}

fn method_not_allowed() -> Response {
    let mut r = Response::error(405, None);
    r.headers
        .to_mut()
        .push(("allow".into(), b"GET, HEAD"[..].into()));
    r
}

/// The file system path (relative to the root) a request path names, and
/// whether it names a directory (ends in `/`). None when the path must not
/// reach the file system: see the module comment.
pub fn request_path(raw: &str, dotfiles: bool) -> Option<(PathBuf, bool)> {
    let rest = raw.strip_prefix('/')?;
    let dir = rest.is_empty() || rest.ends_with('/');
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let mut path = PathBuf::new();
    if rest.is_empty() {
        return Some((path, dir));
    }
    for segment in rest.split('/') {
        let decoded = percent_decode(segment.as_bytes(), false);
        if decoded.is_empty()
            || decoded == b"."
            || decoded == b".."
            || decoded.iter().any(|&b| b == b'/' || b == b'\\' || b == 0)
            || (!dotfiles && decoded.starts_with(b"."))
        {
            return None;
        }
        path.push(OsStr::from_bytes(&decoded));
    }
    Some((path, dir))
}

/// Whether an Accept-Encoding value takes `coding` (q above zero, by name or `*`).
fn accepts(header: &[u8], coding: &str) -> bool {
    let Ok(text) = std::str::from_utf8(header) else {
        return false;
    };
    let mut star = None;
    for item in text.split(',') {
        let mut params = item.split(';');
        let name = params.next().unwrap_or("").trim();
        let mut q = 1.0f32;
        for p in params {
            if let Some((k, v)) = p.split_once('=') {
                if k.trim().eq_ignore_ascii_case("q") {
                    q = v.trim().parse().unwrap_or(0.0);
                }
            }
        }
        if name.eq_ignore_ascii_case(coding) {
            return q > 0.0;
        }
        if name == "*" {
            star = Some(q > 0.0);
        }
    }
    star.unwrap_or(false)
}

enum Precondition {
    Go,
    NotModified,
    Failed,
}

/// The entity-tags of a list header (`*` as itself), with whether each is weak.
fn etags(values: impl Iterator<Item = Vec<u8>>) -> Vec<(bool, Vec<u8>)> {
    let mut out = Vec::new();
    for value in values {
        for item in value.split(|&b| b == b',') {
            let item = item.trim_ascii();
            if item.is_empty() {
                continue;
            }
            match item.strip_prefix(b"W/") {
                Some(tag) => out.push((true, tag.to_vec())),
                None => out.push((false, item.to_vec())),
            }
        }
    }
    out
}

/// RFC 9110 §13.2.2, for GET and HEAD.
fn preconditions(ask: Ask, etag: &str, modified: Option<u64>) -> Precondition {
    let etag = etag.as_bytes();
    let list = |name| etags(ask.all(name).map(<[u8]>::to_vec));
    if ask.header("if-match").is_some() {
        // Strong comparison: a weak tag never matches.
        let ok = list("if-match")
            .iter()
            .any(|(weak, t)| t == b"*" || (!weak && t == etag));
        if !ok {
            return Precondition::Failed;
        }
    } else if let Some(since) = ask
        .header("if-unmodified-since")
        .and_then(crate::http::date::parse_http_date)
    {
        if modified.is_none_or(|m| m > since) {
            return Precondition::Failed;
        }
    }
    if ask.header("if-none-match").is_some() {
        // Weak comparison.
        if list("if-none-match")
            .iter()
            .any(|(_, t)| t == b"*" || t == etag)
        {
            return Precondition::NotModified;
        }
    } else if let Some(since) = ask
        .header("if-modified-since")
        .and_then(crate::http::date::parse_http_date)
    {
        if modified.is_some_and(|m| m <= since) {
            return Precondition::NotModified;
        }
    }
    Precondition::Go
}

/// Whether a Range applies: no If-Range, or If-Range names the current
/// representation (its strong ETag, or its Last-Modified date when that is
/// a strong validator: at least a second in the past).
fn if_range_holds(ask: Ask, etag: &str, modified: Option<u64>) -> bool {
    let Some(value) = ask.header("if-range") else {
        return true;
    };
    let value = value.trim_ascii();
    if value.starts_with(b"\"") || value.starts_with(b"W/") {
        return value == etag.as_bytes();
    }
    match (crate::http::date::parse_http_date(value), modified) {
        (Some(date), Some(m)) => date == m && m < crate::http::date::unix_now(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_paths() {
        let ok = |p: &str| request_path(p, false).map(|(p, d)| (p.display().to_string(), d));
        assert_eq!(ok("/"), Some((String::new(), true)));
        assert_eq!(ok("/a/b.txt"), Some(("a/b.txt".into(), false)));
        assert_eq!(ok("/a/b/"), Some(("a/b".into(), true)));
        assert_eq!(ok("/a%20b"), Some(("a b".into(), false)));
        for bad in [
            "/..",
            "/a/../b",
            "/%2e%2e/x",
            "/%2E%2E",
            "/a/%2e",
            "/a%2fb",
            "/a%2F..%2Fb",
            "/a\\b",
            "/a%5cb",
            "/a%00b",
            "//etc/passwd",
            "/a//b",
            "/.git/config",
            "/a/.env",
            "/%2egit",
            "*",
            "",
        ] {
            assert_eq!(ok(bad), None, "{bad}");
        }
        assert_eq!(
            request_path("/.well-known/x", true).map(|(p, _)| p),
            Some(PathBuf::from(".well-known/x"))
        );
    }

    #[test]
    fn accept_encoding() {
        assert!(accepts(b"gzip, deflate, br", "br"));
        assert!(accepts(b"gzip;q=0.5", "gzip"));
        assert!(!accepts(b"gzip;q=0", "gzip"));
        assert!(!accepts(b"gzip", "br"));
        assert!(accepts(b"*", "br"));
        assert!(!accepts(b"*, br;q=0", "br"));
        assert!(accepts(b"BR", "br"));
    }

    fn ask<'a>(headers: &'a [crate::http::message::RequestHeader]) -> Ask<'a> {
        Ask {
            method: "GET",
            headers,
        }
    }

    fn h(pairs: &[(&str, &str)]) -> Vec<crate::http::message::RequestHeader> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string().into(), v.as_bytes().into()))
            .collect()
    }

    #[test]
    fn precondition_order() {
        let tag = "\"abc\"";
        let m = Some(1_000_000);
        let date = |t| crate::http::date::http_date(t);
        let check = |pairs: &[(&str, &str)]| match preconditions(ask(&h(pairs)), tag, m) {
            Precondition::Go => "go",
            Precondition::NotModified => "304",
            Precondition::Failed => "412",
        };
        assert_eq!(check(&[]), "go");
        assert_eq!(check(&[("if-none-match", "\"abc\"")]), "304");
        assert_eq!(check(&[("if-none-match", "W/\"abc\"")]), "304");
        assert_eq!(check(&[("if-none-match", "\"x\", \"abc\"")]), "304");
        assert_eq!(check(&[("if-none-match", "*")]), "304");
        assert_eq!(check(&[("if-none-match", "\"x\"")]), "go");
        assert_eq!(check(&[("if-modified-since", &date(1_000_000))]), "304");
        assert_eq!(check(&[("if-modified-since", &date(999_999))]), "go");
        // If-None-Match wins over If-Modified-Since.
        assert_eq!(
            check(&[
                ("if-none-match", "\"x\""),
                ("if-modified-since", &date(2_000_000))
            ]),
            "go"
        );
        assert_eq!(check(&[("if-match", "\"abc\"")]), "go");
        assert_eq!(check(&[("if-match", "W/\"abc\"")]), "412");
        assert_eq!(check(&[("if-match", "\"x\"")]), "412");
        assert_eq!(check(&[("if-unmodified-since", &date(999_999))]), "412");
        assert_eq!(check(&[("if-unmodified-since", &date(1_000_000))]), "go");
    }

    #[test]
    fn if_range() {
        let tag = "\"abc\"";
        let m = Some(1_000_000);
        let date = crate::http::date::http_date(1_000_000);
        assert!(if_range_holds(ask(&[]), tag, m));
        assert!(if_range_holds(ask(&h(&[("if-range", "\"abc\"")])), tag, m));
        assert!(!if_range_holds(
            ask(&h(&[("if-range", "W/\"abc\"")])),
            tag,
            m
        ));
        assert!(!if_range_holds(ask(&h(&[("if-range", "\"x\"")])), tag, m));
        assert!(if_range_holds(ask(&h(&[("if-range", &date)])), tag, m));
        let other = crate::http::date::http_date(1_000_001);
        assert!(!if_range_holds(ask(&h(&[("if-range", &other)])), tag, m));
    }
}
