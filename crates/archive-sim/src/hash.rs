//! Deterministic hashing: every per-key fact the simulator invents (size, ETag, upload time,
//! content) is a pure function of the key through these functions.
//!
//! Fixed algorithms (FNV-1a 64 and the splitmix64 finaliser), never `std`'s `DefaultHasher`,
//! whose algorithm may change between Rust releases: the same key must get the same ETag and
//! bytes on every machine and build, or a mirror made yesterday would look stale today.

/// FNV-1a 64 over `bytes`, started from `seed` mixed into the offset basis.
pub fn bytes(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ mix(seed);
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix(h)
}

/// The splitmix64 finaliser: a bijection that spreads every input bit over the output.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Two values combined into one hash (order matters).
pub fn pair(a: u64, b: u64) -> u64 {
    mix(a ^ mix(b.wrapping_add(0x632b_e59b_d9b4_e019)))
}

/// A hash mapped to [0, 1).
pub fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// A hash mapped to [0, n).
pub fn below(h: u64, n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    ((u128::from(h) * u128::from(n)) >> 64) as u64
}

/// Sixteen bytes (an MD5-shaped ETag) from a seed.
pub fn digest16(seed: u64) -> [u8; 16] {
    let a = mix(seed ^ 0x5851_f42d_4c95_7f2d);
    let b = mix(a ^ 0x1405_7b7e_f767_814f);
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&a.to_be_bytes());
    out[8..].copy_from_slice(&b.to_be_bytes());
    out
}

/// Lower-case hex of `bytes` appended to `out`.
pub fn hex_into(bytes: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 15)] as char);
    }
}

pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    hex_into(bytes, &mut s);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_values() {
        // Pinned: a change here changes every ETag and every byte the simulator serves.
        assert_eq!(bytes(0, b"BTCUSDT"), bytes(0, b"BTCUSDT"));
        assert_ne!(bytes(0, b"BTCUSDT"), bytes(1, b"BTCUSDT"));
        assert_eq!(mix(0), 0xe220_a839_7b1d_cdaf);
        assert_eq!(hex(&[0x00, 0xab, 0xff]), "00abff");
    }

    #[test]
    fn unit_and_below_stay_in_range() {
        for i in 0..10_000u64 {
            let h = mix(i);
            let u = unit(h);
            assert!((0.0..1.0).contains(&u));
            assert!(below(h, 7) < 7);
        }
        assert_eq!(below(u64::MAX, 10), 9);
        assert_eq!(below(5, 0), 0);
    }
}
