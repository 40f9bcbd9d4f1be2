//! Byte-exact escaping helpers. Inputs and outputs are raw bytes because they
//! come from and go to Lua strings, which may hold NUL or invalid UTF-8.

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Decodes `%xx` escapes (and `+` as space when asked). An invalid or truncated
/// escape is kept literally instead of failing, as browsers do.
pub fn percent_decode(input: &[u8], plus_as_space: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'%' => {
                let high = input.get(i + 1).and_then(hex_value);
                let low = input.get(i + 2).and_then(hex_value);
                if let (Some(high), Some(low)) = (high, low) {
                    out.push(high << 4 | low);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b'+' if plus_as_space => out.push(b' '),
            byte => out.push(byte),
        }
        i += 1;
    }
    out
}

fn hex_value(c: &u8) -> Option<u8> {
    char::from(*c).to_digit(16).map(|d| d as u8)
}

/// Percent-encodes every byte except the RFC 3986 unreserved set
/// (ALPHA DIGIT - . _ ~), so the result is safe in any URI component.
pub fn url_encode(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len());
    for &byte in input {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX_UPPER[usize::from(byte >> 4)]));
            out.push(char::from(HEX_UPPER[usize::from(byte & 0x0f)]));
        }
    }
    out
}

/// Escapes the five characters significant in HTML text and attribute values;
/// all other bytes pass through untouched.
pub fn html_escape(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    for &byte in input {
        match byte {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'"' => out.extend_from_slice(b"&quot;"),
            b'\'' => out.extend_from_slice(b"&#39;"),
            _ => out.push(byte),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_valid_escapes_any_case() {
        assert_eq!(percent_decode(b"a%20b%2fc%2F", false), b"a b/c/");
        assert_eq!(percent_decode(b"%e2%82%AC", false), "\u{20ac}".as_bytes());
    }

    #[test]
    fn decode_keeps_invalid_escapes() {
        assert_eq!(percent_decode(b"%zz%", false), b"%zz%");
        assert_eq!(percent_decode(b"%4", false), b"%4");
        assert_eq!(percent_decode(b"%4g%%41", false), b"%4g%A");
    }

    #[test]
    fn decode_nul_and_invalid_utf8() {
        assert_eq!(percent_decode(b"a%00b", false), b"a\0b");
        assert_eq!(percent_decode(b"%ff%FE", false), [0xff, 0xfe]);
        assert_eq!(percent_decode(b"\xff\0", false), b"\xff\0");
    }

    #[test]
    fn decode_plus() {
        assert_eq!(percent_decode(b"a+b%2B", true), b"a b+");
        assert_eq!(percent_decode(b"a+b%2B", false), b"a+b+");
    }

    #[test]
    fn encode_unreserved_kept_everything_else_escaped() {
        assert_eq!(url_encode(b"AZaz09-._~"), "AZaz09-._~");
        assert_eq!(url_encode(b"a b+c/&=?"), "a%20b%2Bc%2F%26%3D%3F");
        assert_eq!(url_encode(b"!'()*"), "%21%27%28%29%2A");
        assert_eq!(url_encode(b"\0\xff"), "%00%FF");
        assert_eq!(url_encode("\u{20ac}".as_bytes()), "%E2%82%AC");
    }

    #[test]
    fn encode_decode_roundtrip_all_bytes() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(percent_decode(url_encode(&all).as_bytes(), true), all);
    }

    #[test]
    fn html_escape_specials_only() {
        assert_eq!(
            html_escape(b"<a href=\"x\">'&'</a>\0\xff"),
            b"&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;\0\xff".to_vec()
        );
        assert_eq!(html_escape(b"&amp;"), b"&amp;amp;");
    }
}
