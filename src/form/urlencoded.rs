//! application/x-www-form-urlencoded parsing, also used for query strings.

use crate::escape::percent_decode;

/// Parse "a=1&b=2&a=3" (query strings and application/x-www-form-urlencoded bodies). Pairs in order,
/// names and values percent-decoded with '+' as space; "a" alone gives ("a", ""); empty pieces skipped.
pub fn parse(input: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    input
        .split(|&c| c == b'&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            // Split on the first '=' only: values may themselves contain '='.
            let (name, value) = match piece.iter().position(|&c| c == b'=') {
                Some(eq) => (&piece[..eq], &piece[eq + 1..]),
                None => (piece, &[][..]),
            };
            (percent_decode(name, true), percent_decode(value, true))
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
    fn repeated_keys_keep_order() {
        assert_eq!(
            parse(b"a=1&b=2&a=3"),
            pairs(&[(b"a", b"1"), (b"b", b"2"), (b"a", b"3")])
        );
    }

    #[test]
    fn bare_names_empty_pieces_and_extra_equals() {
        assert_eq!(
            parse(b"&&a&b=&=c&d=e=f&"),
            pairs(&[(b"a", b""), (b"b", b""), (b"", b"c"), (b"d", b"e=f")])
        );
        assert!(parse(b"").is_empty());
    }

    #[test]
    fn decoding_is_byte_exact() {
        assert_eq!(
            parse(b"na+me%3D=v%26a+l%2Bue&n=%00%ff%zz"),
            pairs(&[(b"na me=", b"v&a l+ue"), (b"n", b"\0\xff%zz")])
        );
    }
}
