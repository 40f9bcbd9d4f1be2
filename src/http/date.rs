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

fn civil(unix: u64) -> Civil {
    let days = (unix / 86400) as i64;
    let rem = unix % 86400;
    // Days to civil date (Howard Hinnant's algorithm, public domain).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as usize;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(http_date(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(log_date(971185536), "10/Oct/2000:13:45:36 +0000");
        assert_eq!(http_date(951782400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(iso_time(784111777), "1994-11-06T08:49:37Z");
    }
}
