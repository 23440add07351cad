//! Collision-resistant ids in the shape Prisma's `cuid()` makes them (what the web app stores in
//! `"AuditLog".id`, `"Notification".id`, ...): `c`, the time in ms, a per-process counter, a
//! host/process fingerprint and random blocks, all base 36, 25 characters.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

const BASE: u64 = 36;
const BLOCK: u64 = 36u64.pow(4);

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// `n` in base 36, left-padded with zeros or cut to its last `width` digits.
fn base36(mut n: u64, width: usize) -> String {
    let mut digits = vec![b'0'; width];
    for d in digits.iter_mut().rev() {
        let v = (n % BASE) as u8;
        *d = if v < 10 { b'0' + v } else { b'a' + v - 10 };
        n /= BASE;
    }
    String::from_utf8(digits).unwrap_or_default()
}

/// 64 random bits from the standard library's per-process keyed hasher.
fn random() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.load(Ordering::Relaxed));
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// The process's part of every id, worked out once (the Testmo import makes millions).
fn fingerprint() -> &'static str {
    static FINGERPRINT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    FINGERPRINT.get_or_init(|| {
        let pid = u64::from(std::process::id());
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let sum = host
            .bytes()
            .fold(host.len() as u64 + BASE, |a, b| a + u64::from(b));
        format!("{}{}", base36(pid, 2), base36(sum, 2))
    })
}

/// A new id.
pub fn cuid() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed) % BLOCK;
    let r = random();
    format!(
        "c{}{}{}{}{}",
        base36(ms, 8),
        base36(n, 4),
        fingerprint(),
        base36(r % BLOCK, 4),
        base36((r >> 32) % BLOCK, 4)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_prismas_shape_and_do_not_repeat() {
        let ids: Vec<String> = (0..10_000).map(|_| cuid()).collect();
        for id in &ids {
            assert_eq!(id.len(), 25, "{id}");
            assert!(id.starts_with('c'));
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
            );
        }
        let unique: std::collections::BTreeSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
        assert_eq!(base36(35, 2), "0z");
        assert_eq!(base36(36 * 36 + 1, 2), "01", "cut to the last digits");
    }
}
