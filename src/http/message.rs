//! The request and response as the handler layer sees them, whatever the
//! protocol (HTTP/1.x now; HTTPS and HTTP/2 plug in below these types).

use crate::body::SharedBody;
use std::borrow::Cow;
use std::net::SocketAddr;
use std::ops::Range;
use std::rc::Rc;

/// A request-target as sent, and where its path and query lie in it: they
/// are read in place, not copied out (two allocations per request).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Target {
    text: String,
    path: Range<usize>,
    query: Range<usize>,
}

impl Target {
    /// `path` and `query` are ranges of `text` (byte offsets at char boundaries).
    pub fn new(text: String, path: Range<usize>, query: Range<usize>) -> Target {
        debug_assert!(text.get(path.clone()).is_some() && text.get(query.clone()).is_some());
        Target { text, path, query }
    }

    /// The target as sent.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The path, still percent-encoded: "*" for asterisk-form, "/" for an
    /// absolute-form target without one.
    pub fn path(&self) -> &str {
        match &self.text[self.path.clone()] {
            "" => "/",
            path => path,
        }
    }

    /// After '?' (without it), "" if none.
    pub fn query(&self) -> &str {
        &self.text[self.query.clone()]
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// What a TLS handshake established (`req.tls`).
#[derive(Clone, Debug)]
pub struct TlsInfo {
    pub version: String,
    pub cipher: String,
    pub alpn: Option<String>,
    pub sni: Option<String>,
    pub client: Option<ClientCert>,
}

/// The client's certificate (`req.tls.client`).
#[derive(Clone, Debug)]
pub struct ClientCert {
    pub verified: bool,
    pub subject: String,
    pub issuer: String,
    /// Hexadecimal.
    pub serial: String,
    /// Unix time.
    pub not_before: i64,
    pub not_after: i64,
    pub fingerprint_sha256: String,
    pub pem: String,
}

pub struct Request {
    /// The standard methods are not allocated (see [`Method`]).
    pub method: Method,
    /// The request-target as sent, with its path and query.
    pub target: Target,
    /// "1.0", "1.1" or "2".
    pub version: &'static str,
    /// Lower-case names, byte-exact values, in the order received.
    pub headers: Vec<RequestHeader>,
    pub remote: SocketAddr,
    pub scheme: &'static str,
    /// The TLS session, for HTTPS.
    pub tls: Option<Rc<TlsInfo>>,
    /// Unique within the process.
    pub id: u64,
    pub body: SharedBody,
}

impl Request {
    /// The first value of a header (name in lower case).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        header_values(&self.headers, name).next()
    }
}

/// Every value of a header in `headers`, in order (name in lower case).
pub fn header_values<'a, 'n>(
    headers: &'a [RequestHeader],
    name: &'n str,
) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
    headers
        .iter()
        .filter(move |(n, _)| n == name)
        .map(|(_, v)| v.as_slice())
}

/// The bytes of a whole body: our own, or held where they were made (a Lua
/// string stays in Lua until it is copied to the connection's output, which
/// saves a copy and, for a large body, the allocation of one).
pub enum Bytes {
    Owned(Vec<u8>),
    Held(Box<dyn AsRef<[u8]>>),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Owned(v) => v,
            Bytes::Held(b) => (**b).as_ref(),
        }
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Bytes {
        Bytes::Owned(v)
    }
}

pub enum ResponseBody {
    /// The whole body.
    Full(Bytes),
    /// Chunks follow as the handler produces them.
    Stream,
    /// Parts of an open file: the protocol writes the head, then the worker
    /// sends the file's bytes from the file (never the whole file in memory).
    File(FileBody),
    /// A file a handler named (`{ file = "path" }`). The worker opens it and
    /// turns this into [`ResponseBody::File`] before the protocol sees it.
    Path(std::path::PathBuf),
}

/// A body sent from a file: byte ranges of it, with bytes of our own between
/// them (the part heads of `multipart/byteranges`).
pub struct FileBody {
    pub file: std::sync::Arc<std::fs::File>,
    pub parts: std::collections::VecDeque<FilePart>,
}

pub enum FilePart {
    Bytes(Vec<u8>),
    Range { offset: u64, len: u64 },
}

impl FileBody {
    /// `len` bytes of `file` from `offset`.
    pub fn range(file: std::sync::Arc<std::fs::File>, offset: u64, len: u64) -> FileBody {
        FileBody {
            file,
            parts: [FilePart::Range { offset, len }].into(),
        }
    }

    /// The length of the body on the wire.
    pub fn len(&self) -> u64 {
        self.parts
            .iter()
            .map(|p| match p {
                FilePart::Bytes(b) => b.len() as u64,
                FilePart::Range { len, .. } => *len,
            })
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A request method: the standard ones as static strings, others as sent.
pub type Method = Cow<'static, str>;

/// A request header field's name, in lower case: the common names are
/// static strings (no allocation when a head is parsed).
pub type HeaderName = Cow<'static, str>;

/// A request header field: its name and its value as received.
pub type RequestHeader = (HeaderName, HeaderValue);

/// Bytes a [`HeaderValue`] holds without an allocation.
const INLINE_VALUE: usize = 22;

/// A request header field's value. Short ones, most of a browser's (a
/// language, an encoding, the `sec-fetch-*` fields, a host), are held
/// inline, so a head of a dozen fields costs a few allocations, not a dozen.
#[derive(Clone)]
pub struct HeaderValue(Repr);

#[derive(Clone)]
enum Repr {
    /// The length (at most INLINE_VALUE), then the bytes.
    Inline(u8, [u8; INLINE_VALUE]),
    Heap(Box<[u8]>),
}

impl HeaderValue {
    pub fn as_slice(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline(len, bytes) => &bytes[..usize::from(*len)],
            Repr::Heap(bytes) => bytes,
        }
    }
}

impl From<&[u8]> for HeaderValue {
    fn from(value: &[u8]) -> HeaderValue {
        HeaderValue(if value.len() <= INLINE_VALUE {
            let mut bytes = [0; INLINE_VALUE];
            bytes[..value.len()].copy_from_slice(value);
            Repr::Inline(value.len() as u8, bytes)
        } else {
            Repr::Heap(value.into())
        })
    }
}

impl std::ops::Deref for HeaderValue {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl PartialEq for HeaderValue {
    fn eq(&self, other: &HeaderValue) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for HeaderValue {}

impl std::fmt::Debug for HeaderValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "\"{}\"", self.as_slice().escape_ascii())
    }
}

/// A response header field: most names and many values are constants, which
/// then cost no allocation.
pub type Header = (Cow<'static, str>, Cow<'static, [u8]>);

pub struct Response {
    pub status: u16,
    /// Validated names (tokens, any case) and values (no CR, LF or NUL).
    /// Borrowed for a response of constant fields, such as a handler's
    /// string answer (no allocation); `to_mut` before adding one.
    pub headers: Cow<'static, [Header]>,
    pub body: ResponseBody,
}

impl Response {
    pub fn new(status: u16, content_type: &'static str, body: Vec<u8>) -> Response {
        Response {
            status,
            headers: vec![("content-type".into(), content_type.as_bytes().into())].into(),
            body: ResponseBody::Full(body.into()),
        }
    }

    /// The generic page for an error status.
    pub fn error(status: u16, detail: Option<&str>) -> Response {
        Response::new(
            status,
            "text/html; charset=utf-8",
            super::status::error_page(status, detail),
        )
    }
}

/// Whether `name` is a valid header field name (an RFC 9110 token).
pub fn is_token(name: &[u8]) -> bool {
    !name.is_empty()
        && name
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether `value` can be sent as a header field value without changing the framing.
pub fn is_field_value(value: &[u8]) -> bool {
    value.iter().all(|&b| b != b'\r' && b != b'\n' && b != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_up_to_the_inline_size_are_not_allocated() {
        for len in [0, 1, INLINE_VALUE, INLINE_VALUE + 1, 300] {
            let bytes: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let value = HeaderValue::from(&bytes[..]);
            assert_eq!(value.as_slice(), &bytes[..], "length {len}");
            assert_eq!(&*value, &bytes[..]);
            assert_eq!(matches!(value.0, Repr::Inline(..)), len <= INLINE_VALUE);
            assert_eq!(value.clone(), value);
        }
        assert_ne!(
            HeaderValue::from(&b"ab"[..]),
            HeaderValue::from(&b"abc"[..])
        );
        assert_eq!(
            format!("{:?}", HeaderValue::from(&b"a\"\x01"[..])),
            r#""a\"\x01""#
        );
    }
}
