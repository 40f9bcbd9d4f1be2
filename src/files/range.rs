//! Byte ranges (RFC 9110 §14): parsing `Range: bytes=...` against a file's
//! length, and the `multipart/byteranges` body for several ranges.

use crate::http::message::{FileBody, FilePart};
use std::collections::VecDeque;
use std::fs::File;
use std::sync::Arc;

/// More ranges than this in one request and the header is ignored (the whole
/// file is sent): many tiny ranges cost far more to frame than to send.
pub const MAX_RANGES: usize = 64;

/// What a `Range` header asks of a file.
#[derive(Debug, PartialEq, Eq)]
pub enum Ranges {
    /// No usable Range (absent, another unit, malformed, too many): send it all.
    Whole,
    /// These ranges, first and last byte inclusive, in the order to send them.
    Parts(Vec<(u64, u64)>),
    /// A valid Range none of whose ranges overlaps the file: 416.
    Unsatisfiable,
}

/// Reads a Range header for a file of `len` bytes.
pub fn parse(header: &[u8], len: u64) -> Ranges {
    let Ok(text) = std::str::from_utf8(header) else {
        return Ranges::Whole;
    };
    let text = text.trim();
    let Some((unit, specs)) = text.split_once('=') else {
        return Ranges::Whole;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return Ranges::Whole;
    }
    let mut ranges = Vec::new();
    let mut count = 0;
    for spec in specs.split(',') {
        let spec = spec.trim();
        if spec.is_empty() {
            continue; // empty list elements are allowed (RFC 9110 §5.6.1)
        }
        count += 1;
        if count > MAX_RANGES {
            return Ranges::Whole;
        }
        let Some((first, last)) = spec.split_once('-') else {
            return Ranges::Whole;
        };
        let number = |s: &str| -> Option<u64> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            // A huge number is still a valid (if unsatisfiable or clamped) position.
            Some(s.parse::<u64>().unwrap_or(u64::MAX))
        };
        if first.is_empty() {
            // Suffix: the last n bytes.
            let Some(n) = number(last) else {
                return Ranges::Whole;
            };
            if n > 0 && len > 0 {
                ranges.push((len - n.min(len), len - 1));
            }
            continue;
        }
        let Some(start) = number(first) else {
            return Ranges::Whole;
        };
        let end = if last.is_empty() {
            u64::MAX
        } else {
            match number(last) {
                Some(end) if end >= start => end,
                _ => return Ranges::Whole,
            }
        };
        if start < len {
            ranges.push((start, end.min(len - 1)));
        }
    }
    if count == 0 {
        return Ranges::Whole;
    }
    if ranges.is_empty() {
        return Ranges::Unsatisfiable;
    }
    Ranges::Parts(coalesce(ranges))
}

/// Keeps the client's order unless ranges overlap or touch; then sorts and
/// merges them all (RFC 9110 §14.2 allows coalescing), so no byte is sent twice.
fn coalesce(ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    let mut sorted = ranges.clone();
    sorted.sort_unstable();
    let touching = sorted
        .windows(2)
        .any(|w| w[1].0 <= w[0].1.saturating_add(1));
    if !touching {
        return ranges;
    }
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(sorted.len());
    for (start, end) in sorted {
        match merged.last_mut() {
            Some(last) if start <= last.1.saturating_add(1) => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// A boundary for a multipart body: unique per call, and long enough that
/// file content matching it by chance is not a practical concern.
pub fn boundary() -> String {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            let local = 0u8;
            t ^ (&local as *const u8 as u64).rotate_left(32)
        });
    }
    STATE.with(|s| {
        // splitmix64: a well-mixed sequence from a counter.
        let mut z = s.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        s.set(z);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        format!("flutter-{z:016x}")
    })
}

/// `bytes first-last/len`
pub fn content_range(first: u64, last: u64, len: u64) -> String {
    format!("bytes {first}-{last}/{len}")
}

/// The `multipart/byteranges` body of several ranges: each part carries the
/// file's Content-Type and its Content-Range; the file bytes come straight
/// from the file.
pub fn multipart(
    file: Arc<File>,
    ranges: &[(u64, u64)],
    len: u64,
    content_type: &[u8],
    boundary: &str,
) -> FileBody {
    let mut parts = VecDeque::with_capacity(ranges.len() * 2 + 1);
    for (i, &(first, last)) in ranges.iter().enumerate() {
        let mut head = Vec::with_capacity(128);
        if i > 0 {
            head.extend_from_slice(b"\r\n");
        }
        head.extend_from_slice(b"--");
        head.extend_from_slice(boundary.as_bytes());
        head.extend_from_slice(b"\r\nContent-Type: ");
        head.extend_from_slice(content_type);
        head.extend_from_slice(b"\r\nContent-Range: ");
        head.extend_from_slice(content_range(first, last, len).as_bytes());
        head.extend_from_slice(b"\r\n\r\n");
        parts.push_back(FilePart::Bytes(head));
        parts.push_back(FilePart::Range {
            offset: first,
            len: last - first + 1,
        });
    }
    parts.push_back(FilePart::Bytes(
        format!("\r\n--{boundary}--\r\n").into_bytes(),
    ));
    FileBody { file, parts }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(h: &str, len: u64) -> Ranges {
        parse(h.as_bytes(), len)
    }

    #[test]
    fn single_ranges() {
        assert_eq!(p("bytes=0-9", 100), Ranges::Parts(vec![(0, 9)]));
        assert_eq!(p("bytes=90-", 100), Ranges::Parts(vec![(90, 99)]));
        assert_eq!(p("bytes=90-200", 100), Ranges::Parts(vec![(90, 99)]));
        assert_eq!(p("bytes=-10", 100), Ranges::Parts(vec![(90, 99)]));
        assert_eq!(p("bytes=-1000", 100), Ranges::Parts(vec![(0, 99)]));
        assert_eq!(p("Bytes = 5-5", 100), Ranges::Parts(vec![(5, 5)]));
    }

    #[test]
    fn unusable_headers_mean_the_whole_file() {
        for h in [
            "",
            "bytes",
            "items=0-1",
            "bytes=",
            "bytes=a-b",
            "bytes=5-1",
            "bytes=1",
            "bytes=--1",
            "bytes=-",
            "bytes=0x1-2",
        ] {
            assert_eq!(p(h, 100), Ranges::Whole, "{h:?}");
        }
        let many = format!("bytes={}", vec!["1-1"; MAX_RANGES + 1].join(","));
        assert_eq!(p(&many, 100), Ranges::Whole);
    }

    #[test]
    fn unsatisfiable() {
        assert_eq!(p("bytes=100-", 100), Ranges::Unsatisfiable);
        assert_eq!(p("bytes=200-300, 150-", 100), Ranges::Unsatisfiable);
        assert_eq!(p("bytes=-0", 100), Ranges::Unsatisfiable);
        assert_eq!(p("bytes=0-0", 0), Ranges::Unsatisfiable);
        assert_eq!(p("bytes=-5", 0), Ranges::Unsatisfiable);
        // One satisfiable range is enough.
        assert_eq!(p("bytes=200-300, 0-1", 100), Ranges::Parts(vec![(0, 1)]));
    }

    #[test]
    fn several_ranges_keep_order_unless_they_overlap() {
        assert_eq!(
            p("bytes=50-59, 0-9", 100),
            Ranges::Parts(vec![(50, 59), (0, 9)])
        );
        assert_eq!(
            p("bytes=50-59, 0-9, 55-70, 10-12", 100),
            Ranges::Parts(vec![(0, 12), (50, 70)])
        );
        assert_eq!(p("bytes=0-0,,1-1", 100), Ranges::Parts(vec![(0, 1)]));
    }

    #[test]
    fn multipart_body_length_and_framing() {
        let file = Arc::new(tempfile());
        let body = multipart(file, &[(0, 1), (5, 9)], 10, b"text/plain", "B");
        let framing: usize = body
            .parts
            .iter()
            .map(|p| match p {
                FilePart::Bytes(b) => b.len(),
                FilePart::Range { .. } => 0,
            })
            .sum();
        assert_eq!(body.len(), framing as u64 + 2 + 5);
        let FilePart::Bytes(first) = &body.parts[0] else {
            panic!()
        };
        assert_eq!(
            first,
            b"--B\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/10\r\n\r\n"
        );
        let FilePart::Bytes(last) = body.parts.back().unwrap() else {
            panic!()
        };
        assert_eq!(last, b"\r\n--B--\r\n");
    }

    #[test]
    fn boundaries_differ() {
        assert_ne!(boundary(), boundary());
    }

    fn tempfile() -> File {
        File::open("/dev/null").unwrap()
    }
}
