//! Request body decoders: Content-Length and chunked (RFC 9112 §6, §7.1).
//!
//! Both decoders consume exactly the body and nothing after it, so bytes of
//! a pipelined next request stay in the caller's buffer.

/// Longest chunk-size line (size plus extensions) we accept; extensions are
/// ignored, so this only stops a client from streaming one endless line.
const MAX_CHUNK_LINE: usize = 4096;
/// 16 hex digits fill a u64; more could only overflow (leading zeros count,
/// which keeps the check simple and costs honest clients nothing).
const MAX_SIZE_DIGITS: u32 = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoder {
    /// Body bytes still expected.
    Length(u64),
    Chunked(ChunkedDecoder),
}

/// Incremental chunked decoder; opaque, built with [`Decoder::chunked`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkedDecoder {
    state: State,
    /// Chunk size being read, then data bytes left in the current chunk.
    size: u64,
    digits: u32,
    line_len: usize,
    trailer_len: usize,
    max_trailer_bytes: usize,
}

/// Where we are in the chunked grammar. The BWS states exist because BWS in
/// a chunk line is only allowed before ';' or '=', never before the CRLF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size,
    /// Whitespace after the size: only ';' may follow.
    SizeBws,
    /// After ';': optional BWS, then the extension name.
    ExtPreName,
    ExtName,
    /// Whitespace after a name: '=' or ';' may follow.
    ExtNameBws,
    /// After '=': optional BWS, then a token or quoted-string.
    ExtPreValue,
    ExtToken,
    ExtQuoted,
    ExtQuotedEscape,
    /// Right after a closing quote.
    ExtQuotedEnd,
    /// Whitespace after a value: only ';' may follow.
    ExtValueBws,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    /// Start of a trailer line, or of the final empty line.
    TrailerStart,
    TrailerName,
    TrailerValue,
    TrailerLf,
    FinalLf,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    NeedMore,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeError {
    pub status: u16,
    pub reason: &'static str,
}

fn bad(reason: &'static str) -> DecodeError {
    DecodeError {
        status: 400,
        reason,
    }
}

impl Decoder {
    pub fn length(n: u64) -> Decoder {
        Decoder::Length(n)
    }

    pub fn chunked(max_trailer_bytes: usize) -> Decoder {
        Decoder::Chunked(ChunkedDecoder {
            state: State::Size,
            size: 0,
            digits: 0,
            line_len: 0,
            trailer_len: 0,
            max_trailer_bytes,
        })
    }

    /// Decode as much of `input` as possible. Returns (consumed, progress):
    /// consumed = bytes of input used; body bytes are appended to `out`.
    pub fn decode(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(usize, Progress), DecodeError> {
        match self {
            Decoder::Length(remaining) => {
                let n = take(remaining, input, out);
                let progress = if *remaining == 0 {
                    Progress::Done
                } else {
                    Progress::NeedMore
                };
                Ok((n, progress))
            }
            Decoder::Chunked(c) => c.decode(input, out),
        }
    }

    /// Body bytes the peer has announced but not sent yet: what a length
    /// still owes, or the rest of the chunk being received.
    pub fn announced(&self) -> u64 {
        match self {
            Decoder::Length(remaining) => *remaining,
            Decoder::Chunked(c) if c.state == State::Data => c.size,
            Decoder::Chunked(_) => 0,
        }
    }

    pub fn is_done(&self) -> bool {
        match self {
            Decoder::Length(remaining) => *remaining == 0,
            Decoder::Chunked(c) => c.state == State::Done,
        }
    }
}

/// Copies up to `remaining` bytes of `input` to `out`; returns how many.
fn take(remaining: &mut u64, input: &[u8], out: &mut Vec<u8>) -> usize {
    // If remaining exceeds usize it certainly exceeds input.len().
    let n = usize::try_from(*remaining).map_or(input.len(), |r| r.min(input.len()));
    out.extend_from_slice(&input[..n]);
    *remaining -= n as u64;
    n
}

impl ChunkedDecoder {
    fn decode(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(usize, Progress), DecodeError> {
        let mut i = 0;
        while i < input.len() && self.state != State::Done {
            if self.state == State::Data {
                i += take(&mut self.size, &input[i..], out);
                if self.size == 0 {
                    self.state = State::DataCr;
                }
                continue;
            }
            self.step(input[i])?;
            i += 1;
        }
        let progress = if self.state == State::Done {
            Progress::Done
        } else {
            Progress::NeedMore
        };
        Ok((i, progress))
    }

    /// Advances the state machine by one byte outside chunk data.
    fn step(&mut self, b: u8) -> Result<(), DecodeError> {
        use State::*;
        if matches!(
            self.state,
            Size | SizeBws
                | ExtPreName
                | ExtName
                | ExtNameBws
                | ExtPreValue
                | ExtToken
                | ExtQuoted
                | ExtQuotedEscape
                | ExtQuotedEnd
                | ExtValueBws
        ) {
            self.line_len += 1;
            if self.line_len > MAX_CHUNK_LINE {
                return Err(bad("chunk line too long"));
            }
        }
        // Trailer fields count towards the limit; the final empty line does
        // not, so a limit of 0 still admits a body without trailers.
        let in_trailer_field = match self.state {
            TrailerName | TrailerValue | TrailerLf => true,
            TrailerStart => b != b'\r',
            _ => false,
        };
        if in_trailer_field {
            self.trailer_len += 1;
            if self.trailer_len > self.max_trailer_bytes {
                return Err(DecodeError {
                    status: 431,
                    reason: "trailer section too large",
                });
            }
        }
        let ws = b == b' ' || b == b'\t';
        self.state = match (self.state, b) {
            (Size, _) if b.is_ascii_hexdigit() => {
                if self.digits == MAX_SIZE_DIGITS {
                    return Err(bad("chunk size too large"));
                }
                self.digits += 1;
                // Cannot overflow: at most 16 hex digits.
                self.size = (self.size << 4) | u64::from(hex_value(b));
                Size
            }
            // Every other byte needs at least one digit before it.
            (Size, _) if self.digits == 0 => return Err(bad("missing chunk size")),
            (Size, _) if ws => SizeBws,
            (
                Size | SizeBws | ExtToken | ExtQuotedEnd | ExtValueBws | ExtName | ExtNameBws,
                b';',
            ) => ExtPreName,
            (SizeBws, _) if ws => SizeBws,
            (ExtPreName, _) if ws => ExtPreName,
            (ExtPreName | ExtName, _) if is_tchar(b) => ExtName,
            (ExtName | ExtNameBws, _) if ws => ExtNameBws,
            (ExtName | ExtNameBws, b'=') => ExtPreValue,
            (ExtPreValue, _) if ws => ExtPreValue,
            (ExtPreValue, b'"') => ExtQuoted,
            (ExtPreValue | ExtToken, _) if is_tchar(b) => ExtToken,
            (ExtQuoted, b'"') => ExtQuotedEnd,
            (ExtQuoted, b'\\') => ExtQuotedEscape,
            (ExtQuoted, _) if is_field_byte(b) => ExtQuoted,
            (ExtQuotedEscape, _) if is_field_byte(b) => ExtQuoted,
            (ExtToken | ExtQuotedEnd | ExtValueBws, _) if ws => ExtValueBws,
            (Size | ExtName | ExtToken | ExtQuotedEnd, b'\r') => SizeLf,
            (SizeLf, b'\n') if self.size == 0 => TrailerStart,
            (SizeLf, b'\n') => {
                self.digits = 0;
                self.line_len = 0;
                Data
            }
            (DataCr, b'\r') => DataLf,
            (DataCr, _) => return Err(bad("chunk data not followed by CRLF")),
            (DataLf, b'\n') => Size,
            (TrailerStart, b'\r') => FinalLf,
            (TrailerStart | TrailerName, _) if is_tchar(b) => TrailerName,
            (TrailerName, b':') => TrailerValue,
            (TrailerValue, b'\r') => TrailerLf,
            (TrailerValue, _) if is_field_byte(b) => TrailerValue,
            (TrailerLf, b'\n') => TrailerStart,
            (FinalLf, b'\n') => Done,
            // Bare LF, bare CR, obs-fold, control bytes and every other
            // deviation: a lenient guess here is how smuggling starts.
            (SizeLf | DataLf | TrailerLf | FinalLf, _) => {
                return Err(bad("expected LF after CR"));
            }
            (TrailerStart | TrailerName | TrailerValue, _) => {
                return Err(bad("malformed trailer field"));
            }
            _ => return Err(bad("malformed chunk line")),
        };
        Ok(())
    }
}

fn hex_value(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

/// RFC 9110 §5.6.2 token character.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// SP, HTAB, VCHAR or obs-text: what a field value or quoted-string may hold
/// (the caller handles '"' and '\\' inside quotes first).
fn is_field_byte(b: u8) -> bool {
    b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds all of `input` at once.
    fn feed(d: &mut Decoder, input: &[u8]) -> Result<(usize, Progress, Vec<u8>), DecodeError> {
        let mut out = Vec::new();
        let (n, p) = d.decode(input, &mut out)?;
        Ok((n, p, out))
    }

    /// Feeds `input` one byte per call, stopping once the decoder is done.
    fn feed_bytewise(
        d: &mut Decoder,
        input: &[u8],
    ) -> Result<(usize, Progress, Vec<u8>), DecodeError> {
        let mut out = Vec::new();
        let mut used = 0;
        for b in input {
            let (n, p) = d.decode(std::slice::from_ref(b), &mut out)?;
            assert_eq!(n, 1, "a byte of the body must be taken");
            used += n;
            if p == Progress::Done {
                return Ok((used, p, out));
            }
        }
        Ok((used, Progress::NeedMore, out))
    }

    fn chunked_err(input: &[u8]) -> DecodeError {
        let whole = feed(&mut Decoder::chunked(1024), input).unwrap_err();
        let bytewise = feed_bytewise(&mut Decoder::chunked(1024), input).unwrap_err();
        assert_eq!(whole, bytewise);
        whole
    }

    fn chunked_ok(input: &[u8]) -> Vec<u8> {
        let mut d = Decoder::chunked(1024);
        let (n, p, out) = feed(&mut d, input).unwrap();
        assert_eq!((n, p), (input.len(), Progress::Done));
        assert!(d.is_done());
        out
    }

    const BODY: &[u8] = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n";

    #[test]
    fn length_copies_and_stops() {
        let mut d = Decoder::length(5);
        assert!(!d.is_done());
        let (n, p, out) = feed(&mut d, b"abc").unwrap();
        assert_eq!((n, p, out.as_slice()), (3, Progress::NeedMore, &b"abc"[..]));
        let (n, p, out) = feed(&mut d, b"deGET / HTTP/1.1").unwrap();
        assert_eq!((n, p, out.as_slice()), (2, Progress::Done, &b"de"[..]));
        assert!(d.is_done());
        assert_eq!(feed(&mut d, b"more").unwrap().0, 0);
    }

    #[test]
    fn length_zero_is_done_without_consuming() {
        let mut d = Decoder::length(0);
        assert!(d.is_done());
        assert_eq!(
            feed(&mut d, b"next").unwrap(),
            (0, Progress::Done, Vec::new())
        );
    }

    #[test]
    fn length_bytewise_and_huge() {
        let mut d = Decoder::length(4);
        let (n, p, out) = feed_bytewise(&mut d, b"wxyzNEXT").unwrap();
        assert_eq!((n, p, out.as_slice()), (4, Progress::Done, &b"wxyz"[..]));

        let mut d = Decoder::length(u64::MAX);
        let (n, p, _) = feed(&mut d, &[7; 1000]).unwrap();
        assert_eq!((n, p), (1000, Progress::NeedMore));
        assert_eq!(d, Decoder::Length(u64::MAX - 1000));
    }

    #[test]
    fn chunked_whole_with_pipelined_tail() {
        let mut input = BODY.to_vec();
        input.extend_from_slice(b"GET /next HTTP/1.1\r\n");
        let mut d = Decoder::chunked(1024);
        let (n, p, out) = feed(&mut d, &input).unwrap();
        assert_eq!((n, p), (BODY.len(), Progress::Done));
        assert_eq!(out, b"hello world");
        assert!(d.is_done());
        assert_eq!(
            feed(&mut d, &input[n..]).unwrap(),
            (0, Progress::Done, Vec::new())
        );
    }

    #[test]
    fn chunked_bytewise_with_pipelined_tail() {
        let mut input = BODY.to_vec();
        input.extend_from_slice(b"\r\nGET");
        let mut d = Decoder::chunked(1024);
        let (n, p, out) = feed_bytewise(&mut d, &input).unwrap();
        assert_eq!((n, p), (BODY.len(), Progress::Done));
        assert_eq!(out, b"hello world");
    }

    #[test]
    fn chunked_every_split_point() {
        for split in 0..=BODY.len() {
            let mut d = Decoder::chunked(1024);
            let mut out = Vec::new();
            let (a, p) = d.decode(&BODY[..split], &mut out).unwrap();
            assert_eq!(a, split);
            assert_eq!(p == Progress::Done, split == BODY.len());
            let (b, p) = d.decode(&BODY[split..], &mut out).unwrap();
            assert_eq!((a + b, p), (BODY.len(), Progress::Done), "split {split}");
            assert_eq!(out, b"hello world");
        }
    }

    #[test]
    fn announced_counts_what_is_owed() {
        let mut d = Decoder::length(10);
        feed(&mut d, b"abc").unwrap();
        assert_eq!(d.announced(), 7);
        let mut d = Decoder::chunked(1024);
        assert_eq!(d.announced(), 0);
        feed(&mut d, b"fffff").unwrap();
        assert_eq!(d.announced(), 0, "size line not finished");
        feed(&mut d, b"\r\nab").unwrap();
        assert_eq!(d.announced(), 0xfffff - 2);
        let mut d = Decoder::chunked(1024);
        feed(&mut d, b"2\r\nab").unwrap();
        assert_eq!(d.announced(), 0);
    }

    #[test]
    fn not_done_before_final_crlf() {
        let mut d = Decoder::chunked(1024);
        assert_eq!(feed(&mut d, b"0\r\n\r").unwrap().1, Progress::NeedMore);
        assert!(!d.is_done());
        assert_eq!(feed(&mut d, b"\n").unwrap().1, Progress::Done);
    }

    #[test]
    fn hex_sizes() {
        let data = [b'x'; 255];
        let mut input = b"fF\r\n".to_vec();
        input.extend_from_slice(&data);
        input.extend_from_slice(b"\r\nA\r\n0123456789\r\n0\r\n\r\n");
        let out = chunked_ok(&input);
        assert_eq!(out.len(), 265);
        assert!(out.ends_with(b"x0123456789"));
        // Leading zeros are fine up to the digit limit.
        assert_eq!(chunked_ok(b"0000000000000003\r\nabc\r\n0\r\n\r\n"), b"abc");
        assert_eq!(chunked_ok(b"0000000000000000\r\n\r\n"), b"");
    }

    #[test]
    fn large_and_overflowing_sizes() {
        let mut d = Decoder::chunked(1024);
        let (n, p, out) = feed(&mut d, b"ffffffffffffffff\r\nabcd").unwrap();
        assert_eq!(
            (n, p, out.as_slice()),
            (22, Progress::NeedMore, &b"abcd"[..])
        );
        match &d {
            Decoder::Chunked(c) => assert_eq!(c.size, u64::MAX - 4),
            Decoder::Length(_) => unreachable!(),
        }
        assert_eq!(chunked_err(b"10000000000000000\r\n").status, 400);
        assert_eq!(chunked_err(b"00000000000000001\r\n").status, 400);
    }

    #[test]
    fn bad_chunk_size_lines() {
        let cases: &[&[u8]] = &[
            b"\r\n",
            b";ext\r\n",
            b"0x5\r\nhello\r\n0\r\n\r\n",
            b"+5\r\n",
            b"-5\r\n",
            b" 5\r\n",
            b"\t5\r\n",
            b"5 \r\n",
            b"5 5\r\n",
            b"g\r\n",
            b"5\n",
            b"5\rX",
            b"5\r\nhelloX\r\n",
            b"5\r\nhello\rX",
            b"5\r\nhello\n0\r\n\r\n",
            b"5\r\nhello world\r\n",
            b"0\n\r\n",
            b"0\r\n\n",
            b"0\r\n\r\r",
        ];
        for case in cases {
            assert_eq!(
                chunked_err(case).status,
                400,
                "{}",
                String::from_utf8_lossy(case)
            );
        }
    }

    #[test]
    fn extensions_accepted_and_ignored() {
        let cases: &[&[u8]] = &[
            b"3;a\r\nabc\r\n0\r\n\r\n",
            b"3 ; a = b\r\nabc\r\n0\r\n\r\n",
            b"3\t;\ta\t=\tb\r\nabc\r\n0\r\n\r\n",
            b"3;a;b=c;d\r\nabc\r\n0;last=1\r\n\r\n",
            b"3;a=\"q \\\" x;y\"\r\nabc\r\n0\r\n\r\n",
            b"3;a=\"\" ;b\r\nabc\r\n0\r\n\r\n",
            b"3;a=\"\xe9\"\r\nabc\r\n0\r\n\r\n",
        ];
        for case in cases {
            assert_eq!(
                chunked_ok(case),
                b"abc",
                "{}",
                String::from_utf8_lossy(case)
            );
        }
    }

    #[test]
    fn bad_extensions() {
        let cases: &[&[u8]] = &[
            b"3;\r\n",
            b"3; \r\n",
            b"3;=b\r\n",
            b"3;a=\r\n",
            b"3;a b\r\n",
            b"3;a \r\n",
            b"3;a=b c\r\n",
            b"3;a=b \r\n",
            b"3;a=\"x\"y\r\n",
            b"3;a=\"x\" \r\n",
            b"3;a=\"unterminated\r\n",
            b"3;a=\"\x01\"\r\n",
            b"3;a=\"\\\x01\"\r\n",
            b"3;a=b=c\r\n",
            b"3;a\x7f\r\n",
            b"3;a\n",
        ];
        for case in cases {
            assert_eq!(
                chunked_err(case).status,
                400,
                "{}",
                String::from_utf8_lossy(case)
            );
        }
    }

    #[test]
    fn chunk_line_length_bounded() {
        // "3;" plus name fills the line to exactly the limit, CR included.
        let line = |len: usize| {
            let mut v = b"3;".to_vec();
            v.resize(len - 1, b'a');
            v.extend_from_slice(b"\r\nabc\r\n0\r\n\r\n");
            v
        };
        assert_eq!(chunked_ok(&line(MAX_CHUNK_LINE)), b"abc");
        assert_eq!(chunked_err(&line(MAX_CHUNK_LINE + 1)).status, 400);
        // The bound is per line, not per body.
        let mut two = line(MAX_CHUNK_LINE);
        two.truncate(two.len() - 5);
        two.extend_from_slice(&line(MAX_CHUNK_LINE));
        assert_eq!(chunked_ok(&two), b"abcabc");
    }

    #[test]
    fn trailers_validated_and_discarded() {
        let input = b"3\r\nabc\r\n0\r\nX-Sum: 12 \t34\r\nY:\r\nZ: \xff\r\n\r\nNEXT";
        let mut d = Decoder::chunked(1024);
        let (n, p, out) = feed(&mut d, input).unwrap();
        assert_eq!(
            (n, p, out.as_slice()),
            (input.len() - 4, Progress::Done, &b"abc"[..])
        );
        let mut d = Decoder::chunked(1024);
        let (n, p, out) = feed_bytewise(&mut d, input).unwrap();
        assert_eq!(
            (n, p, out.as_slice()),
            (input.len() - 4, Progress::Done, &b"abc"[..])
        );
    }

    #[test]
    fn bad_trailers() {
        let cases: &[&[u8]] = &[
            b"0\r\n folded: x\r\n\r\n",
            b"0\r\nX: a\r\n b\r\n\r\n",
            b"0\r\nX : v\r\n\r\n",
            b"0\r\n: v\r\n\r\n",
            b"0\r\nX v\r\n\r\n",
            b"0\r\nX: a\0b\r\n\r\n",
            b"0\r\nX: a\x7f\r\n\r\n",
            b"0\r\nX: a\nY: b\r\n\r\n",
            b"0\r\nX: a\rY\r\n\r\n",
            b"0\r\nX: a\r\n\n",
        ];
        for case in cases {
            assert_eq!(
                chunked_err(case).status,
                400,
                "{}",
                String::from_utf8_lossy(case)
            );
        }
    }

    #[test]
    fn trailer_size_limit() {
        // "A: 12345\r\n" is 10 bytes; the final empty line is not counted.
        let ok = b"0\r\nA: 12345\r\n\r\n";
        let mut d = Decoder::chunked(10);
        assert_eq!(feed(&mut d, ok).unwrap().1, Progress::Done);
        let over = b"0\r\nA: 123456\r\n\r\n";
        let err = feed(&mut Decoder::chunked(10), over).unwrap_err();
        assert_eq!(err.status, 431);
        let err = feed_bytewise(&mut Decoder::chunked(10), over).unwrap_err();
        assert_eq!(err.status, 431);
        // Limit 0 still admits a body without trailers.
        let mut d = Decoder::chunked(0);
        assert_eq!(
            feed(&mut d, b"1\r\nx\r\n0\r\n\r\n").unwrap().1,
            Progress::Done
        );
        assert_eq!(
            feed(&mut Decoder::chunked(0), b"0\r\nA")
                .unwrap_err()
                .status,
            431
        );
    }
}
