//! Streaming multipart/form-data (RFC 7578) parser.
//!
//! The body is fed in arbitrary chunks. Only a short tail that might be the
//! start of a delimiter, or an incomplete part header block (capped by
//! `Limits::max_part_header_bytes`), is buffered; part data beyond
//! `Limits::spool_threshold` goes to a temporary file, so memory use does not
//! grow with the body size.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};
use std::{fmt, mem};

use crate::escape::percent_decode;

/// Extracts the boundary from "multipart/form-data; boundary=..." (quoted or
/// not). Returns `None` for another media type or a boundary that RFC 2046
/// does not allow (1..70 bchars, not ending in a space).
pub fn boundary(content_type: &[u8]) -> Option<Vec<u8>> {
    let (media_type, params) = parse_header_value(content_type);
    if !media_type.eq_ignore_ascii_case(b"multipart/form-data") {
        return None;
    }
    let (_, value) = params.into_iter().find(|(name, _)| name == b"boundary")?;
    let valid = (1..=70).contains(&value.len())
        && value.last() != Some(&b' ')
        && value.iter().all(|&c| is_bchar(c));
    valid.then_some(value)
}

fn is_bchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"'()+_,-./:=? ".contains(&c)
}

#[derive(Debug, Clone)]
pub struct Limits {
    pub max_parts: usize,
    pub max_part_header_bytes: usize,
    pub spool_threshold: usize,
    pub spool_dir: PathBuf,
}

/// A part's content. A `File` is a temporary file owned by this value: it is
/// deleted on drop unless `keep` took the path away first.
#[derive(Debug)]
pub enum PartData {
    Memory(Vec<u8>),
    File { path: PathBuf, size: u64 },
}

impl PartData {
    /// Disarms the removal on drop and hands the temporary file's path to the
    /// caller, who then owns the file. `None` for in-memory data or when the
    /// path was already taken (the `path` field is left empty).
    pub fn keep(&mut self) -> Option<PathBuf> {
        match self {
            PartData::File { path, .. } if !path.as_os_str().is_empty() => Some(mem::take(path)),
            _ => None,
        }
    }
}

impl Drop for PartData {
    fn drop(&mut self) {
        if let Some(path) = self.keep() {
            // Nothing useful can be done if it is already gone.
            let _ = fs::remove_file(path);
        }
    }
}

#[derive(Debug)]
pub struct Part {
    pub name: Vec<u8>,
    pub filename: Option<Vec<u8>>,
    pub content_type: Option<Vec<u8>>,
    pub data: PartData,
}

impl Part {
    /// See [`PartData::keep`].
    pub fn keep(&mut self) -> Option<PathBuf> {
        self.data.keep()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartError {
    pub reason: String,
}

impl MultipartError {
    fn new(reason: impl Into<String>) -> Self {
        MultipartError {
            reason: reason.into(),
        }
    }
}

impl fmt::Display for MultipartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for MultipartError {}

fn spool_error(err: io::Error) -> MultipartError {
    MultipartError::new(format!("cannot spool part to disk: {err}"))
}

enum State {
    /// Skipping bytes before the first delimiter.
    Preamble,
    /// Just after "CRLF--boundary": "--" closes, padding + CRLF opens a part.
    AfterDelimiter,
    /// Collecting a header block; the buffer starts with the CRLF ending the
    /// delimiter line, so an empty block is simply "CRLF CRLF". `scanned`
    /// is how far the block was already searched, so feeding it in small
    /// pieces stays linear.
    Headers {
        scanned: usize,
    },
    Body(Current),
    /// After the close delimiter; everything is ignored.
    Epilogue,
}

/// The part being received.
struct Current {
    name: Vec<u8>,
    filename: Option<Vec<u8>>,
    content_type: Option<Vec<u8>>,
    sink: Sink,
}

enum Sink {
    Memory(Vec<u8>),
    File(Spool),
}

impl Current {
    fn write(&mut self, data: &[u8], limits: &Limits) -> io::Result<()> {
        match &mut self.sink {
            Sink::Memory(buf) if buf.len() + data.len() <= limits.spool_threshold => {
                buf.extend_from_slice(data);
            }
            Sink::Memory(buf) => {
                let mut spool = Spool::create(&limits.spool_dir)?;
                spool.write(buf)?;
                spool.write(data)?;
                self.sink = Sink::File(spool);
            }
            Sink::File(spool) => spool.write(data)?,
        }
        Ok(())
    }

    fn finish(self) -> io::Result<Part> {
        let data = match self.sink {
            Sink::Memory(buf) => PartData::Memory(buf),
            Sink::File(spool) => spool.finish()?,
        };
        Ok(Part {
            name: self.name,
            filename: self.filename,
            content_type: self.content_type,
            data,
        })
    }
}

/// A temporary file being written; removed on drop unless `finish` handed it
/// over to a `PartData`.
struct Spool {
    path: PathBuf,
    writer: BufWriter<File>,
    size: u64,
}

impl Spool {
    fn create(dir: &Path) -> io::Result<Spool> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        // pid + counter is unique within this run; the clock avoids clashing
        // with files left behind by an earlier process that had the same pid.
        // create_new still guarantees we never open someone else's file.
        let mut last_err = None;
        for _ in 0..16 {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let path = dir.join(format!(
                "flutter-upload-{}-{}-{nanos:x}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            let mut options = OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(&path) {
                Ok(file) => {
                    return Ok(Spool {
                        path,
                        writer: BufWriter::new(file),
                        size: 0,
                    });
                }
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => last_err = Some(err),
                Err(err) => return Err(err),
            }
        }
        Err(last_err.unwrap_or_else(|| io::ErrorKind::AlreadyExists.into()))
    }

    fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.writer.write_all(data)?;
        self.size += data.len() as u64;
        Ok(())
    }

    fn finish(mut self) -> io::Result<PartData> {
        self.writer.flush()?;
        // Taking the path disarms our Drop; PartData's Drop takes over.
        Ok(PartData::File {
            path: mem::take(&mut self.path),
            size: self.size,
        })
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

pub struct MultipartParser {
    /// "CRLF--boundary": every delimiter, including the first one thanks to
    /// the CRLF the buffer starts with.
    delimiter: Vec<u8>,
    limits: Limits,
    state: State,
    /// Unprocessed bytes carried over between `feed` calls.
    buf: Vec<u8>,
    parts: Vec<Part>,
    parts_started: usize,
    failed: Option<MultipartError>,
}

impl MultipartParser {
    pub fn new(boundary: &[u8], limits: Limits) -> Self {
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(boundary);
        MultipartParser {
            delimiter,
            limits,
            state: State::Preamble,
            // Lets a body that starts directly with "--boundary" match the
            // same CRLF-prefixed delimiter as all later ones.
            buf: b"\r\n".to_vec(),
            parts: Vec::new(),
            parts_started: 0,
            failed: None,
        }
    }

    /// Feed the next bytes of the body (any split, down to one byte at a time).
    pub fn feed(&mut self, input: &[u8]) -> Result<(), MultipartError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        if matches!(self.state, State::Epilogue) {
            return Ok(());
        }
        let mut buf = mem::take(&mut self.buf);
        buf.extend_from_slice(input);
        match self.process(&buf) {
            Ok(consumed) => {
                buf.drain(..consumed);
                self.buf = buf;
                Ok(())
            }
            Err(err) => {
                // Drop everything now, spooled files included, rather than
                // when the caller gets round to dropping the parser.
                self.state = State::Epilogue;
                self.parts.clear();
                self.failed = Some(err.clone());
                Err(err)
            }
        }
    }

    /// Body complete: returns the parts, or an error if the closing delimiter was never seen.
    pub fn finish(self) -> Result<Vec<Part>, MultipartError> {
        if let Some(err) = self.failed {
            return Err(err);
        }
        match self.state {
            State::Epilogue => Ok(self.parts),
            _ => Err(MultipartError::new("missing closing delimiter")),
        }
    }

    /// Consumes as much of `buf` as can be decided on; returns how many bytes.
    fn process(&mut self, buf: &[u8]) -> Result<usize, MultipartError> {
        let mut pos = 0;
        loop {
            let rest = &buf[pos..];
            match &mut self.state {
                State::Preamble | State::Body(_) => {
                    let Some(found) = find(rest, &self.delimiter) else {
                        // Keep back only what could be the start of a delimiter.
                        let safe = rest.len().saturating_sub(self.delimiter.len() - 1);
                        if let State::Body(current) = &mut self.state {
                            current
                                .write(&rest[..safe], &self.limits)
                                .map_err(spool_error)?;
                        }
                        return Ok(pos + safe);
                    };
                    let state = mem::replace(&mut self.state, State::AfterDelimiter);
                    if let State::Body(mut current) = state {
                        current
                            .write(&rest[..found], &self.limits)
                            .map_err(spool_error)?;
                        self.parts.push(current.finish().map_err(spool_error)?);
                    }
                    pos += found + self.delimiter.len();
                }
                State::AfterDelimiter => {
                    if rest.starts_with(b"--") {
                        self.state = State::Epilogue;
                        return Ok(buf.len());
                    }
                    // RFC 2046 transport padding: whitespace before the CRLF.
                    let padding = rest
                        .iter()
                        .take_while(|&&c| c == b' ' || c == b'\t')
                        .count();
                    let after = &rest[padding..];
                    if after.starts_with(b"\r\n") {
                        self.parts_started += 1;
                        if self.parts_started > self.limits.max_parts {
                            return Err(MultipartError::new("too many parts"));
                        }
                        self.state = State::Headers { scanned: 0 };
                        pos += padding;
                    } else if after.is_empty() || after == b"\r" || rest == b"-" {
                        return Ok(pos + padding);
                    } else {
                        return Err(MultipartError::new("malformed boundary delimiter"));
                    }
                }
                State::Headers { scanned } => {
                    let max = self.limits.max_part_header_bytes;
                    let Some(end) = find(&rest[*scanned..], b"\r\n\r\n") else {
                        if rest.len().saturating_sub(2) > max {
                            return Err(MultipartError::new("part header too large"));
                        }
                        // The terminator may straddle this feed and the next.
                        *scanned = rest.len().saturating_sub(3);
                        return Ok(pos);
                    };
                    let end = *scanned + end;
                    // Header bytes: the lines with their CRLFs plus the blank line.
                    if end + 2 > max {
                        return Err(MultipartError::new("part header too large"));
                    }
                    let block = rest[..end].strip_prefix(b"\r\n").unwrap_or_default();
                    self.state = State::Body(parse_part_headers(block)?);
                    pos += end + 4;
                }
                State::Epilogue => return Ok(buf.len()),
            }
        }
    }
}

fn parse_part_headers(block: &[u8]) -> Result<Current, MultipartError> {
    let mut disposition = None;
    let mut content_type = None;
    let mut lines = block;
    while !lines.is_empty() {
        let (line, next) = match find(lines, b"\r\n") {
            Some(end) => (&lines[..end], &lines[end + 2..]),
            None => (lines, &[][..]),
        };
        lines = next;
        let colon = line
            .iter()
            .position(|&c| c == b':')
            .filter(|&colon| colon > 0 && line[..colon].iter().all(|&c| is_tchar(c)))
            .ok_or_else(|| MultipartError::new("malformed part header line"))?;
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        // A repeated header is ignored: the first one wins.
        if name.eq_ignore_ascii_case(b"content-disposition") {
            disposition.get_or_insert(value);
        } else if name.eq_ignore_ascii_case(b"content-type") {
            content_type.get_or_insert(value);
        }
    }
    let missing = || MultipartError::new("part without Content-Disposition form-data name");
    let (kind, params) = parse_header_value(disposition.ok_or_else(missing)?);
    if !kind.eq_ignore_ascii_case(b"form-data") {
        return Err(missing());
    }
    let param = |wanted: &[u8]| {
        params
            .iter()
            .find(|(name, _)| name == wanted)
            .map(|(_, value)| value.clone())
    };
    let name = param(b"name").ok_or_else(missing)?;
    // RFC 8187 extended value wins when its charset is one we can pass on as is.
    let filename = param(b"filename*")
        .and_then(|value| decode_ext_value(&value))
        .or_else(|| param(b"filename"));
    Ok(Current {
        name,
        filename,
        content_type: content_type.map(<[u8]>::to_vec),
        sink: Sink::Memory(Vec::new()),
    })
}

/// Decodes an RFC 8187 value "UTF-8'lang'percent-encoded"; other charsets
/// are ignored so the plain `filename` is used instead.
fn decode_ext_value(value: &[u8]) -> Option<Vec<u8>> {
    let mut pieces = value.splitn(3, |&c| c == b'\'');
    let charset = pieces.next()?;
    let _language = pieces.next()?;
    let encoded = pieces.next()?;
    charset
        .eq_ignore_ascii_case(b"utf-8")
        .then(|| percent_decode(encoded, false))
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// A header parameter: lowercased name and unquoted value.
type Param = (Vec<u8>, Vec<u8>);

/// Splits `value; a=b; c="d"` into the leading value and its parameters
/// (names lowercased, quoted values unquoted). Parameters without '=' are
/// skipped; quoted values may contain ';'.
fn parse_header_value(input: &[u8]) -> (&[u8], Vec<Param>) {
    let lead_end = input.iter().position(|&c| c == b';').unwrap_or(input.len());
    let mut params = Vec::new();
    let mut rest = &input[lead_end..];
    while let Some(after_semicolon) = rest.strip_prefix(b";") {
        let name_end = after_semicolon
            .iter()
            .position(|&c| c == b'=' || c == b';')
            .unwrap_or(after_semicolon.len());
        let name = after_semicolon[..name_end]
            .trim_ascii()
            .to_ascii_lowercase();
        rest = &after_semicolon[name_end..];
        let Some(after_equals) = rest.strip_prefix(b"=") else {
            continue;
        };
        let after_equals = after_equals.trim_ascii_start();
        let (value, remaining) = match after_equals.strip_prefix(b"\"") {
            Some(quoted) => unquote(quoted),
            None => {
                let end = after_equals
                    .iter()
                    .position(|&c| c == b';')
                    .unwrap_or(after_equals.len());
                (
                    after_equals[..end].trim_ascii().to_vec(),
                    &after_equals[end..],
                )
            }
        };
        // Anything between a closing quote and the next ';' is junk.
        let next = remaining
            .iter()
            .position(|&c| c == b';')
            .unwrap_or(remaining.len());
        rest = &remaining[next..];
        params.push((name, value));
    }
    (input[..lead_end].trim_ascii(), params)
}

/// Reads a quoted-string body (opening quote already consumed) and returns
/// it with what follows the closing quote. Only `\"` and `\\` are treated as
/// escapes: browsers do not escape backslashes, so a Windows path such as
/// `C:\dir\file` must survive. An unterminated string runs to the end.
fn unquote(input: &[u8]) -> (Vec<u8>, &[u8]) {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'\\' if matches!(input.get(i + 1), Some(b'"' | b'\\')) => {
                out.push(input[i + 1]);
                i += 2;
            }
            b'"' => return (out, &input[i + 1..]),
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    (out, &[])
}

/// Position of the first occurrence of `needle` (non-empty) in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let mut start = 0;
    while let Some(offset) = haystack[start..].iter().position(|&c| c == needle[0]) {
        let at = start + offset;
        if haystack[at..].starts_with(needle) {
            return Some(at);
        }
        start = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDARY: &[u8] = b"----FlutterBoundary7MA4YWxk";

    /// A fresh, empty spool directory per test (so file counts do not race),
    /// removed when the test ends.
    struct TestDir(PathBuf);

    impl TestDir {
        fn new(test: &str) -> TestDir {
            let dir = std::env::temp_dir().join(format!(
                "flutter-multipart-test-{}-{test}",
                std::process::id()
            ));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            TestDir(dir)
        }
    }

    impl std::ops::Deref for TestDir {
        type Target = Path;
        fn deref(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TestDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn limits(dir: &Path, spool_threshold: usize) -> Limits {
        Limits {
            max_parts: 16,
            max_part_header_bytes: 1024,
            spool_threshold,
            spool_dir: dir.to_path_buf(),
        }
    }

    fn files_in(dir: &Path) -> usize {
        fs::read_dir(dir).unwrap().count()
    }

    type Flat = (Vec<u8>, Option<Vec<u8>>, Option<Vec<u8>>, Vec<u8>);

    /// Comparable view of the parts, reading spooled files back.
    fn flatten(parts: &[Part]) -> Vec<Flat> {
        parts
            .iter()
            .map(|part| {
                let data = match &part.data {
                    PartData::Memory(bytes) => bytes.clone(),
                    PartData::File { path, size } => {
                        let bytes = fs::read(path).unwrap();
                        assert_eq!(bytes.len() as u64, *size);
                        bytes
                    }
                };
                (
                    part.name.clone(),
                    part.filename.clone(),
                    part.content_type.clone(),
                    data,
                )
            })
            .collect()
    }

    /// Binary content designed to look like delimiters without being one:
    /// "--", CRLFs, and every proper prefix of "CRLF--boundary".
    fn tricky_binary() -> Vec<u8> {
        let delimiter = [b"\r\n--".as_slice(), BOUNDARY].concat();
        let mut data = b"--\r\n--\r\r\n\0\xff".to_vec();
        for len in 1..delimiter.len() {
            data.extend_from_slice(&delimiter[..len]);
            data.push(len as u8);
        }
        data.extend_from_slice(&delimiter[2..]);
        data.extend((0..=255u8).cycle().take(700));
        data.extend_from_slice(&delimiter[..delimiter.len() - 1]);
        data
    }

    fn sample_body() -> Vec<u8> {
        let mut body = b"preamble to ignore\r\n".to_vec();
        let delimiter = |body: &mut Vec<u8>| {
            body.extend_from_slice(b"--");
            body.extend_from_slice(BOUNDARY);
            body.extend_from_slice(b"\r\n");
        };
        delimiter(&mut body);
        body.extend_from_slice(b"Content-Disposition: form-data; name=\"title\"\r\n\r\n");
        body.extend_from_slice(b"Hello\0 world\r\n");
        delimiter(&mut body);
        body.extend_from_slice(
            b"content-disposition: form-data; name=\"upload\"; filename=\"a;b \\\"q\\\".bin\"\r\n\
              CONTENT-TYPE: application/octet-stream\r\n\
              X-Ignored: yes\r\n\r\n",
        );
        body.extend_from_slice(&tricky_binary());
        body.extend_from_slice(b"\r\n");
        delimiter(&mut body);
        body.extend_from_slice(b"Content-Disposition: form-data; name=empty\r\n\r\n\r\n");
        delimiter(&mut body);
        body.extend_from_slice(
            b"Content-Disposition: form-data; name=\"doc\"; filename=\"fallback.txt\"; \
              filename*=UTF-8''%E2%82%AC%20rates.txt\r\nContent-Type: text/plain\r\n\r\n",
        );
        body.extend_from_slice(b"C:\\dir\\file");
        body.extend_from_slice(b"\r\n--");
        body.extend_from_slice(BOUNDARY);
        body.extend_from_slice(b"--\r\nepilogue with \r\n--");
        body.extend_from_slice(BOUNDARY);
        body.extend_from_slice(b" junk");
        body
    }

    fn expected() -> Vec<Flat> {
        vec![
            (b"title".to_vec(), None, None, b"Hello\0 world".to_vec()),
            (
                b"upload".to_vec(),
                Some(b"a;b \"q\".bin".to_vec()),
                Some(b"application/octet-stream".to_vec()),
                tricky_binary(),
            ),
            (b"empty".to_vec(), None, None, Vec::new()),
            (
                b"doc".to_vec(),
                Some("\u{20ac} rates.txt".as_bytes().to_vec()),
                Some(b"text/plain".to_vec()),
                b"C:\\dir\\file".to_vec(),
            ),
        ]
    }

    fn parse_chunks<'a>(
        chunks: impl IntoIterator<Item = &'a [u8]>,
        limits: Limits,
    ) -> Result<Vec<Part>, MultipartError> {
        let mut parser = MultipartParser::new(BOUNDARY, limits);
        for chunk in chunks {
            parser.feed(chunk)?;
        }
        parser.finish()
    }

    /// Deterministic xorshift so failures are reproducible without a crate.
    fn random_splits(body: &[u8], mut seed: u64) -> Vec<&[u8]> {
        let mut chunks = Vec::new();
        let mut rest = body;
        while !rest.is_empty() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 90) as usize;
            let (chunk, tail) = rest.split_at(len.min(rest.len()));
            chunks.push(chunk);
            rest = tail;
        }
        chunks
    }

    #[test]
    fn boundary_from_content_type() {
        assert_eq!(
            boundary(b"multipart/form-data; boundary=abc-123"),
            Some(b"abc-123".to_vec())
        );
        assert_eq!(
            boundary(b"Multipart/Form-Data ; charset=utf-8; BOUNDARY=\"a b:c\""),
            Some(b"a b:c".to_vec())
        );
        assert_eq!(
            boundary(b"multipart/form-data; x=\"boundary=no;\"; boundary=yes"),
            Some(b"yes".to_vec())
        );
        assert_eq!(
            boundary(&[b"multipart/form-data;boundary=".as_slice(), &[b'x'; 70]].concat())
                .map(|b| b.len()),
            Some(70)
        );
        assert_eq!(
            boundary(&[b"multipart/form-data;boundary=".as_slice(), &[b'x'; 71]].concat()),
            None
        );
        assert_eq!(boundary(b"multipart/form-data; boundary="), None);
        assert_eq!(boundary(b"multipart/form-data; boundary=\"ends \""), None);
        assert_eq!(boundary(b"multipart/form-data; boundary=a\"b"), None);
        assert_eq!(boundary(b"multipart/form-data"), None);
        assert_eq!(boundary(b"multipart/mixed; boundary=abc"), None);
    }

    #[test]
    fn fields_and_files_in_one_feed() {
        let dir = TestDir::new("one-feed");
        let parts = parse_chunks([sample_body().as_slice()], limits(&dir, 1 << 20)).unwrap();
        assert_eq!(flatten(&parts), expected());
        assert!(parts.iter().all(|p| matches!(p.data, PartData::Memory(_))));
        assert_eq!(files_in(&dir), 0);
    }

    #[test]
    fn byte_at_a_time_and_random_splits_agree() {
        let dir = TestDir::new("splits");
        let body = sample_body();
        for threshold in [0, 5, 64, 1 << 20] {
            let parts = parse_chunks(body.chunks(1), limits(&dir, threshold)).unwrap();
            assert_eq!(flatten(&parts), expected(), "1-byte, threshold {threshold}");
            for seed in 1..40 {
                let parts =
                    parse_chunks(random_splits(&body, seed), limits(&dir, threshold)).unwrap();
                assert_eq!(
                    flatten(&parts),
                    expected(),
                    "seed {seed}, threshold {threshold}"
                );
            }
        }
        assert_eq!(files_in(&dir), 0);
    }

    #[test]
    fn large_part_is_spooled_exactly_and_removed_on_drop() {
        let dir = TestDir::new("spool");
        let content: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut body = b"--".to_vec();
        body.extend_from_slice(BOUNDARY);
        body.extend_from_slice(b"\r\nContent-Disposition: form-data; name=f; filename=big\r\n\r\n");
        body.extend_from_slice(&content);
        body.extend_from_slice(b"\r\n--");
        body.extend_from_slice(BOUNDARY);
        body.extend_from_slice(b"--");

        let mut parser = MultipartParser::new(BOUNDARY, limits(&dir, 1000));
        for chunk in body.chunks(4096) {
            parser.feed(chunk).unwrap();
            // Only a delimiter-sized tail may wait in memory.
            assert!(parser.buf.len() < 4096 + BOUNDARY.len() + 4);
        }
        let mut parts = parser.finish().unwrap();
        let part = parts.pop().unwrap();
        let PartData::File { path, size } = &part.data else {
            panic!("expected a spooled part");
        };
        let path = path.clone();
        assert_eq!(*size, content.len() as u64);
        assert_eq!(fs::read(&path).unwrap(), content);
        assert!(path.starts_with(&*dir));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        drop(part);
        assert!(!path.exists());
        assert_eq!(files_in(&dir), 0);
    }

    #[test]
    fn threshold_is_inclusive_and_keep_disarms_removal() {
        let dir = TestDir::new("keep");
        let body = [
            b"--".as_slice(),
            BOUNDARY,
            b"\r\nContent-Disposition: form-data; name=a\r\n\r\n1234\r\n--",
            BOUNDARY,
            b"\r\nContent-Disposition: form-data; name=b\r\n\r\n12345\r\n--",
            BOUNDARY,
            b"--",
        ]
        .concat();
        let mut parts = parse_chunks([body.as_slice()], limits(&dir, 4)).unwrap();
        assert!(matches!(&parts[0].data, PartData::Memory(d) if d == b"1234"));
        assert_eq!(parts[0].keep(), None);
        let path = parts[1].keep().expect("spooled");
        assert_eq!(parts[1].keep(), None);
        drop(parts);
        assert_eq!(fs::read(&path).unwrap(), b"12345");
        fs::remove_file(&path).unwrap();
    }

    #[test]
    fn missing_close_delimiter_is_an_error_and_cleans_up() {
        let dir = TestDir::new("unclosed");
        let body = sample_body();
        let close = find(&body, b"--\r\nepilogue").unwrap();
        for cut in [0, 10, close - 3, close] {
            let mut parser = MultipartParser::new(BOUNDARY, limits(&dir, 0));
            parser.feed(&body[..cut]).unwrap();
            let err = parser.finish().unwrap_err();
            assert_eq!(err.reason, "missing closing delimiter");
            assert_eq!(files_in(&dir), 0);
        }
    }

    #[test]
    fn dropping_parser_mid_part_removes_partial_file() {
        let dir = TestDir::new("partial");
        let mut parser = MultipartParser::new(BOUNDARY, limits(&dir, 8));
        let mut body = b"--".to_vec();
        body.extend_from_slice(BOUNDARY);
        body.extend_from_slice(b"\r\nContent-Disposition: form-data; name=x\r\n\r\n");
        body.extend_from_slice(&[b'z'; 500]);
        parser.feed(&body).unwrap();
        assert_eq!(files_in(&dir), 1);
        drop(parser);
        assert_eq!(files_in(&dir), 0);
    }

    #[test]
    fn too_many_parts() {
        let dir = TestDir::new("too-many");
        let mut lim = limits(&dir, 0);
        lim.max_parts = 3;
        let err = parse_chunks([sample_body().as_slice()], lim.clone()).unwrap_err();
        assert_eq!(err.reason, "too many parts");
        // Files spooled for the accepted parts are gone as soon as it fails.
        assert_eq!(files_in(&dir), 0);
        lim.max_parts = 4;
        assert_eq!(
            parse_chunks([sample_body().as_slice()], lim).unwrap().len(),
            4
        );
    }

    #[test]
    fn errors_are_sticky() {
        let dir = TestDir::new("sticky");
        let mut lim = limits(&dir, 0);
        lim.max_parts = 0;
        let mut parser = MultipartParser::new(BOUNDARY, lim);
        let err = parser.feed(&sample_body()).unwrap_err();
        assert_eq!(parser.feed(b"more").unwrap_err(), err);
        assert_eq!(parser.finish().unwrap_err(), err);
    }

    fn single_part(test: &str, headers: &[u8]) -> Result<Vec<Part>, MultipartError> {
        let dir = TestDir::new(test);
        let body = [
            b"--".as_slice(),
            BOUNDARY,
            b"\r\n",
            headers,
            b"\r\n\r\nvalue\r\n--",
            BOUNDARY,
            b"--\r\n",
        ]
        .concat();
        parse_chunks(body.chunks(3), limits(&dir, 1024))
    }

    #[test]
    fn header_errors() {
        let reason = |headers: &[u8]| single_part("header-errors", headers).unwrap_err().reason;
        assert_eq!(
            reason(b"Content-Type: text/plain"),
            "part without Content-Disposition form-data name"
        );
        assert_eq!(
            reason(b"Content-Disposition: attachment; name=a"),
            "part without Content-Disposition form-data name"
        );
        assert_eq!(
            reason(b"Content-Disposition: form-data; filename=a"),
            "part without Content-Disposition form-data name"
        );
        assert_eq!(
            reason(b"Content-Disposition form-data; name=a"),
            "malformed part header line"
        );
        assert_eq!(
            reason(b"Content-Disposition: form-data; name=a\r\n: x"),
            "malformed part header line"
        );
        let long = [
            b"Content-Disposition: form-data; name=".as_slice(),
            &[b'a'; 2000],
        ]
        .concat();
        assert_eq!(reason(&long), "part header too large");
    }

    #[test]
    fn header_value_forms() {
        let parts = single_part(
            "header-forms",
            b"Content-Disposition:form-data;NAME=\"x\\\\y\";filename*=iso-8859-1''%E9;filename=\"C:\\tmp\\f.txt\"",
        )
        .unwrap();
        assert_eq!(parts[0].name, b"x\\y");
        assert_eq!(
            parts[0].filename.as_deref(),
            Some(b"C:\\tmp\\f.txt".as_slice())
        );
        assert!(matches!(&parts[0].data, PartData::Memory(d) if d == b"value"));
    }

    #[test]
    fn malformed_delimiter_and_transport_padding() {
        let dir = TestDir::new("padding");
        let padded = [
            b"--".as_slice(),
            BOUNDARY,
            b" \t\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--",
            BOUNDARY,
            b"--",
        ]
        .concat();
        let parts = parse_chunks(padded.chunks(1), limits(&dir, 1024)).unwrap();
        assert_eq!(
            flatten(&parts),
            vec![(b"a".to_vec(), None, None, b"v".to_vec())]
        );

        let bad = [b"--".as_slice(), BOUNDARY, b"x\r\n"].concat();
        let err = parse_chunks([bad.as_slice()], limits(&dir, 1024)).unwrap_err();
        assert_eq!(err.reason, "malformed boundary delimiter");
    }

    #[test]
    fn close_right_away_gives_no_parts() {
        let dir = TestDir::new("empty");
        let body = [b"--".as_slice(), BOUNDARY, b"--"].concat();
        assert!(parse_chunks(body.chunks(1), limits(&dir, 0))
            .unwrap()
            .is_empty());
    }
}
