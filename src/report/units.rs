//! Numbers as people read them (counts, bytes, durations), shared by the summary on stderr
//! and the HTML page.

/// Decimal units: `999 B`, `1.5 kB`, `2.0 GB`.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Thousands separated by commas: `1234567` -> `1,234,567`.
pub fn human_count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1.54 s` under a minute, else `2 min 05 s` or `1 h 02 min 05 s`; None for a negative or
/// non-finite value.
pub fn human_seconds(s: f64) -> Option<String> {
    if !s.is_finite() || s < 0.0 {
        return None;
    }
    if s < 60.0 {
        return Some(format!("{s:.2} s"));
    }
    let total = s.round() as u64;
    let (h, m, sec) = (total / 3600, total % 3600 / 60, total % 60);
    Some(if h > 0 {
        format!("{h} h {m:02} min {sec:02} s")
    } else {
        format!("{m} min {sec:02} s")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_readable() {
        assert_eq!(human_count(1_234_567), "1,234,567");
        assert_eq!(human_count(999), "999");
        assert_eq!(human_bytes(1_451_267), "1.5 MB");
        assert_eq!(human_seconds(1.543).as_deref(), Some("1.54 s"));
        assert_eq!(human_seconds(125.0).as_deref(), Some("2 min 05 s"));
        assert_eq!(human_seconds(3725.0).as_deref(), Some("1 h 02 min 05 s"));
        assert_eq!(human_seconds(f64::NAN), None);
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_500), "1.5 kB");
        assert_eq!(human_bytes(2_000_000_000), "2.0 GB");
        assert_eq!(human_bytes(3_000_000_000_000_000), "3.0 PB");
    }
}
