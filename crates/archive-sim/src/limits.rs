//! S3's request-rate limits per partitioned prefix: token buckets of `rate` requests a
//! second (one second of burst), reads and writes apart, per (bucket, partition prefix).
//! Above them S3 answers 503 SlowDown; so does the simulator.
//!
//! A partition prefix is the key (or the listing's prefix) cut after `depth` slashes:
//! depth 4 makes each data-type folder (`data/spot/daily/klines/`) one partition. Real S3
//! splits prefixes as load grows; a fixed depth is the simulator's simplification.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// The partition prefix of a key: up to and including its `depth`-th `/` (or its last `/`
/// when it has fewer; the bucket root when it has none, or with depth 0).
pub fn partition(key: &[u8], depth: usize) -> &[u8] {
    if depth == 0 {
        return b"";
    }
    let mut seen = 0;
    let mut last = 0;
    for (i, &b) in key.iter().enumerate() {
        if b == b'/' {
            seen += 1;
            last = i + 1;
            if seen == depth {
                break;
            }
        }
    }
    &key[..last]
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

pub struct Limiter {
    read_rate: f64,
    write_rate: f64,
    buckets: Mutex<HashMap<(bool, String), Bucket>>,
}

impl Limiter {
    /// Rates in requests per second per partition (0: unlimited).
    pub fn new(read_rate: f64, write_rate: f64) -> Limiter {
        Limiter {
            read_rate,
            write_rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Take one request's token; false: throttled.
    pub fn admit(&self, write: bool, partition: &str, now: Instant) -> bool {
        let rate = if write {
            self.write_rate
        } else {
            self.read_rate
        };
        if rate <= 0.0 {
            return true;
        }
        let mut m = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let key = (write, partition.to_string());
        let b = m.entry(key).or_insert(Bucket {
            tokens: rate,
            at: now,
        });
        let dt = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + dt * rate).min(rate);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn partitions() {
        assert_eq!(
            partition(b"data/spot/daily/klines/BTCUSDT/x.zip", 4),
            b"data/spot/daily/klines/"
        );
        assert_eq!(partition(b"data/spot", 4), b"data/");
        assert_eq!(partition(b"x/BTCUSDT-1d-2024-01-01.zip", 4), b"x/");
        assert_eq!(partition(b"top.zip", 4), b"");
        assert_eq!(partition(b"a/b", 0), b"");
        assert_eq!(partition(b"a/b/", 1), b"a/");
    }

    #[test]
    fn a_burst_of_rate_then_rate_per_second() {
        let l = Limiter::new(10.0, 2.0);
        let t0 = Instant::now();
        let admitted = (0..30).filter(|_| l.admit(false, "p", t0)).count();
        assert_eq!(admitted, 10);
        // Another partition and the other class are separate.
        assert!(l.admit(false, "q", t0));
        assert!(l.admit(true, "p", t0));
        assert!(l.admit(true, "p", t0));
        assert!(!l.admit(true, "p", t0));
        // Half a second later: 5 more reads.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!((0..30).filter(|_| l.admit(false, "p", t1)).count(), 5);
        let unlimited = Limiter::new(0.0, 0.0);
        assert!((0..10_000).all(|_| unlimited.admit(true, "p", t0)));
    }
}
