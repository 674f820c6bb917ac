//! Civil dates and timestamps, UTC only: day numbers, month numbers, parsing `YYYY-MM-DD`,
//! and the two timestamp spellings S3 uses (ISO 8601 in listings, RFC 7231 in headers).
//!
//! Hand-written (Howard Hinnant's `days_from_civil`) rather than a date crate: the listing hot
//! path formats a timestamp per key, and these few integer operations are all it needs.

use std::fmt::Write as _;

/// Days since 1970-01-01.
pub type Day = i32;
/// Months since 0000-01 (`year * 12 + month - 1`).
pub type Month = i32;

pub const SECS_PER_DAY: i64 = 86_400;

pub fn days_from_civil(y: i32, m: u32, d: u32) -> Day {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i32 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i32 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub fn civil_from_days(z: Day) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

pub fn month_of_day(day: Day) -> Month {
    let (y, m, _) = civil_from_days(day);
    y * 12 + m as i32 - 1
}

pub fn first_day_of_month(month: Month) -> Day {
    days_from_civil(month.div_euclid(12), (month.rem_euclid(12) + 1) as u32, 1)
}

pub fn last_day_of_month(month: Month) -> Day {
    first_day_of_month(month + 1) - 1
}

pub fn days_in_month(month: Month) -> i64 {
    i64::from(first_day_of_month(month + 1) - first_day_of_month(month))
}

/// Monday = 0 ... Sunday = 6.
pub fn weekday(day: Day) -> u32 {
    (day + 3).rem_euclid(7) as u32
}

/// Strict `YYYY-MM-DD`.
pub fn parse_day(s: &str) -> Option<Day> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let mut v = 0u32;
        for &c in &b[r] {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(c - b'0');
        }
        Some(v)
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || d == 0 {
        return None;
    }
    let day = days_from_civil(y as i32, m, d);
    // Reject 2025-02-30 and the like: the round trip must give the same date back.
    (civil_from_days(day) == (y as i32, m, d)).then_some(day)
}

/// `YYYY-MM-DD` appended to `out`.
pub fn push_day(out: &mut Vec<u8>, day: Day) {
    let (y, m, d) = civil_from_days(day);
    push_num(out, y as u64, 4);
    out.push(b'-');
    push_num(out, u64::from(m), 2);
    out.push(b'-');
    push_num(out, u64::from(d), 2);
}

/// `YYYY-MM` appended to `out`.
pub fn push_month(out: &mut Vec<u8>, month: Month) {
    push_num(out, month.div_euclid(12) as u64, 4);
    out.push(b'-');
    push_num(out, (month.rem_euclid(12) + 1) as u64, 2);
}

pub fn fmt_day(day: Day) -> String {
    let mut v = Vec::with_capacity(10);
    push_day(&mut v, day);
    String::from_utf8(v).unwrap_or_default()
}

/// `n` zero-padded to `width` digits (more digits if it needs them).
pub fn push_num(out: &mut Vec<u8>, n: u64, width: usize) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut v = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for _ in (buf.len() - i)..width {
        out.push(b'0');
    }
    out.extend_from_slice(&buf[i..]);
}

/// `HH:MM:SS` for `sod` seconds into the day.
pub fn push_time_of_day(out: &mut Vec<u8>, sod: i64) {
    push_num(out, (sod / 3600) as u64, 2);
    out.push(b':');
    push_num(out, (sod / 60 % 60) as u64, 2);
    out.push(b':');
    push_num(out, (sod % 60) as u64, 2);
}

/// `2024-01-02T07:12:33.000Z` (S3 listings) for a time in milliseconds since the epoch.
pub fn push_iso_ms(out: &mut Vec<u8>, ms: i64) {
    let secs = ms.div_euclid(1000);
    let day = secs.div_euclid(SECS_PER_DAY) as Day;
    let sod = secs.rem_euclid(SECS_PER_DAY);
    push_day(out, day);
    out.push(b'T');
    push_time_of_day(out, sod);
    out.push(b'.');
    push_num(out, ms.rem_euclid(1000) as u64, 3);
    out.push(b'Z');
}

pub fn iso_ms(ms: i64) -> String {
    let mut v = Vec::with_capacity(24);
    push_iso_ms(&mut v, ms);
    String::from_utf8(v).unwrap_or_default()
}

/// `Tue, 02 Jan 2024 07:12:33 GMT` (HTTP `Last-Modified`).
pub fn http_date(ms: i64) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = ms.div_euclid(1000);
    let day = secs.div_euclid(SECS_PER_DAY) as Day;
    let sod = secs.rem_euclid(SECS_PER_DAY);
    let (y, m, d) = civil_from_days(day);
    let mut s = String::with_capacity(29);
    let _ = write!(
        s,
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[weekday(day) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    );
    s
}

/// The wall clock in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for day in -1000..40_000 {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(fmt_day(days_from_civil(2024, 2, 29)), "2024-02-29");
    }

    #[test]
    fn parse_is_strict() {
        assert_eq!(parse_day("2025-04-11"), Some(days_from_civil(2025, 4, 11)));
        for bad in [
            "2025-02-30",
            "2025-4-11",
            "2025-13-01",
            "20250411",
            "2025-04-1x",
            "",
        ] {
            assert_eq!(parse_day(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats() {
        let ms = (i64::from(days_from_civil(2024, 1, 2)) * SECS_PER_DAY + 7 * 3600 + 12 * 60 + 33)
            * 1000
            + 5;
        assert_eq!(iso_ms(ms), "2024-01-02T07:12:33.005Z");
        assert_eq!(http_date(ms), "Tue, 02 Jan 2024 07:12:33 GMT");
        let mut v = Vec::new();
        push_month(&mut v, 2020 * 12 + 7);
        assert_eq!(v, b"2020-08");
        assert_eq!(weekday(days_from_civil(2026, 12, 1)), 1); // a Tuesday
        assert_eq!(days_in_month(2024 * 12 + 1), 29);
        assert_eq!(
            last_day_of_month(2025 * 12 + 3),
            days_from_civil(2025, 4, 30)
        );
    }
}
