//! Dates in the two formats the server writes: the HTTP `Date` header
//! (IMF-fixdate, RFC 9110 §5.6.7) and the access log's `[10/Oct/2000:13:55:36 +0000]`.
//! A worker formats them once per second and reuses the text.

use std::time::{SystemTime, UNIX_EPOCH};

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A broken-down UTC time.
struct Civil {
    year: i64,
    month: usize,
    day: u32,
    weekday: usize,
    hour: u64,
    min: u64,
    sec: u64,
}

/// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's algorithm, public domain).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

fn civil(unix: u64) -> Civil {
    let days = (unix / 86400) as i64;
    let rem = unix % 86400;
    let (year, month, day) = civil_from_days(days);
    Civil {
        year,
        month: month as usize,
        day,
        weekday: (days.rem_euclid(7)) as usize,
        hour: rem / 3600,
        min: rem / 60 % 60,
        sec: rem % 60,
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`
pub fn http_date(unix: u64) -> String {
    let c = civil(unix);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[c.weekday],
        c.day,
        MONTHS[c.month - 1],
        c.year,
        c.hour,
        c.min,
        c.sec
    )
}

/// `10/Oct/2000:13:55:36 +0000`
pub fn log_date(unix: u64) -> String {
    let c = civil(unix);
    format!(
        "{:02}/{}/{}:{:02}:{:02}:{:02} +0000",
        c.day,
        MONTHS[c.month - 1],
        c.year,
        c.hour,
        c.min,
        c.sec
    )
}

/// `2026-12-01T04:41:20Z`, for the error log.
pub fn iso_time(unix: u64) -> String {
    let c = civil(unix);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        c.year, c.month, c.day, c.hour, c.min, c.sec
    )
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Both formats of the current second, refreshed when the second changes.
pub struct DateCache {
    second: u64,
    http: String,
    log: String,
}

impl DateCache {
    pub fn new() -> DateCache {
        let mut d = DateCache {
            second: u64::MAX,
            http: String::new(),
            log: String::new(),
        };
        d.refresh();
        d
    }

    pub fn refresh(&mut self) {
        let now = unix_now();
        if now != self.second {
            self.second = now;
            self.http = http_date(now);
            self.log = log_date(now);
        }
    }

    pub fn http(&self) -> &str {
        &self.http
    }

    pub fn log(&self) -> &str {
        &self.log
    }
}

impl Default for DateCache {
    fn default() -> Self {
        DateCache::new()
    }
}

/// Reads an HTTP-date in any of the three forms RFC 9110 §5.6.7 has
/// recipients accept: `Sun, 06 Nov 1994 08:49:37 GMT` (IMF-fixdate),
/// `Sunday, 06-Nov-94 08:49:37 GMT` (RFC 850) and `Sun Nov  6 08:49:37 1994`
/// (asctime). None for anything else, or a time before 1970.
pub fn parse_http_date(value: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(value).ok()?.trim();
    let (day, month, year, time) = if let Some((_, rest)) = text.split_once(", ") {
        let mut words = rest.split(' ');
        let date = words.next()?;
        let (day, month, year) = if date.contains('-') {
            let mut d = date.split('-');
            let (day, month, year) = (d.next()?, d.next()?, d.next()?);
            let yy: i64 = number(year, 2)?;
            // Two-digit years: RFC 9110 has them read as the most recent
            // past year with those digits; 1970-2069 is close enough for files.
            (day, month, if yy < 70 { 2000 + yy } else { 1900 + yy })
        } else {
            let (month, year) = (words.next()?, words.next()?);
            (date, month, number(year, 4)?)
        };
        let time = words.next()?;
        if words.next()? != "GMT" || words.next().is_some() {
            return None;
        }
        (number(day, 2)?, month, year, time)
    } else {
        let mut words = text.split_whitespace();
        let _weekday = words.next()?;
        let month = words.next()?;
        let day = words.next()?;
        let time = words.next()?;
        let year = number(words.next()?, 4)?;
        if words.next().is_some() || day.is_empty() || day.len() > 2 {
            return None;
        }
        (day.parse().ok()?, month, year, time)
    };
    let month = MONTHS.iter().position(|m| *m == month)? as i64 + 1;
    let mut hms = time.split(':');
    let (h, m, s): (i64, i64, i64) = (
        number(hms.next()?, 2)?,
        number(hms.next()?, 2)?,
        number(hms.next()?, 2)?,
    );
    if hms.next().is_some() || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    // Civil date to days (Howard Hinnant's algorithm, public domain).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86400 + h * 3600 + m * 60 + s).ok()
}

/// A decimal number of exactly `digits` digits.
fn number(text: &str, digits: usize) -> Option<i64> {
    if text.len() != digits || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_http_date_forms() {
        let t = Some(784111777);
        assert_eq!(parse_http_date(b"Sun, 06 Nov 1994 08:49:37 GMT"), t);
        assert_eq!(parse_http_date(b"Sunday, 06-Nov-94 08:49:37 GMT"), t);
        assert_eq!(parse_http_date(b"Sun Nov  6 08:49:37 1994"), t);
        assert_eq!(
            parse_http_date(b"Tue, 29 Feb 2000 00:00:00 GMT"),
            Some(951782400)
        );
        for n in [0, 1, 1_700_000_000, 4_102_444_800] {
            assert_eq!(parse_http_date(http_date(n).as_bytes()), Some(n));
        }
        for bad in [
            "",
            "yesterday",
            "Sun, 06 Nov 1994 08:49:37",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:49:37 GMT",
            "Sun, 06 Nov 1969 08:49:37 GMT",
        ] {
            assert_eq!(parse_http_date(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(http_date(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(log_date(971185536), "10/Oct/2000:13:45:36 +0000");
        assert_eq!(http_date(951782400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(iso_time(784111777), "1994-11-06T08:49:37Z");
    }
}
