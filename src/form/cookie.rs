//! Cookie request header parsing (RFC 6265 §5.4, leniently).

/// Parse a Cookie request header value "a=1; b=2" into pairs (RFC 6265 §5.4 lenient: split on ';', trim spaces,
/// skip pieces without '=', strip one pair of surrounding double quotes from the value; no percent-decoding).
///
/// Pieces with an empty name are skipped too: no cookie can be addressed by one.
pub fn parse(input: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    input
        .split(|&c| c == b';')
        .filter_map(|piece| {
            let eq = piece.iter().position(|&c| c == b'=')?;
            let name = piece[..eq].trim_ascii();
            if name.is_empty() {
                return None;
            }
            let value = piece[eq + 1..].trim_ascii();
            let value = match value {
                [b'"', inner @ .., b'"'] => inner,
                _ => value,
            };
            Some((name.to_vec(), value.to_vec()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&[u8], &[u8])]) -> Vec<(Vec<u8>, Vec<u8>)> {
        list.iter().map(|(n, v)| (n.to_vec(), v.to_vec())).collect()
    }

    #[test]
    fn basic_and_repeated() {
        assert_eq!(
            parse(b"a=1; b=2;a=3 ;  c = 4 "),
            pairs(&[(b"a", b"1"), (b"b", b"2"), (b"a", b"3"), (b"c", b"4")])
        );
    }

    #[test]
    fn quotes_stripped_once_and_only_when_paired() {
        assert_eq!(
            parse(b"a=\"x y\"; b=\"\"\"\"; c=\"; d=\"open; e=\"\""),
            pairs(&[
                (b"a", b"x y"),
                (b"b", b"\"\""),
                (b"c", b"\""),
                (b"d", b"\"open"),
                (b"e", b""),
            ])
        );
    }

    #[test]
    fn skips_pieces_without_equals_or_name() {
        assert_eq!(parse(b"flag; ;=v; a=b=c;;"), pairs(&[(b"a", b"b=c")]));
        assert!(parse(b"").is_empty());
    }

    #[test]
    fn no_percent_decoding_and_bytes_kept() {
        assert_eq!(
            parse(b"a=%20+x; b=\0\xff"),
            pairs(&[(b"a", b"%20+x"), (b"b", b"\0\xff")])
        );
    }
}
