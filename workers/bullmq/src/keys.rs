//! Key names of one queue: `<prefix>:<queue>:<type>` and job keys `<prefix>:<queue>:<id>`,
//! and the prefix itself: `bull`, or TestPlanIt's `BULLMQ_PREFIX`.

/// BullMQ's default key prefix, and TestPlanIt's when `BULLMQ_PREFIX` is unset.
pub const DEFAULT_PREFIX: &str = "bull";

/// A `BULLMQ_PREFIX` TestPlanIt would not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "BULLMQ_PREFIX {0:?} is not a valid key prefix: use letters, digits, '_' and '-' only (the web app's own rule), or unset it for \"bull\""
)]
pub struct PrefixError(pub String);

/// Checks a key prefix against TestPlanIt's rule, `[a-zA-Z0-9_-]+`.
pub fn check_prefix(prefix: &str) -> Result<&str, PrefixError> {
    let ok = !prefix.is_empty()
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(prefix)
    } else {
        Err(PrefixError(prefix.to_string()))
    }
}

/// The key prefix from `BULLMQ_PREFIX` (blank or unset: `bull`), checked.
pub fn prefix_from_env() -> Result<String, PrefixError> {
    match std::env::var("BULLMQ_PREFIX") {
        Ok(v) if !v.trim().is_empty() => check_prefix(v.trim()).map(str::to_string),
        _ => Ok(DEFAULT_PREFIX.to_string()),
    }
}

/// The keys of one queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// `<prefix>:<queue>:`, with the trailing colon, as the scripts take it.
    base: String,
}

impl Keys {
    pub fn new(prefix: &str, queue: &str) -> Keys {
        Keys {
            base: format!("{prefix}:{queue}:"),
        }
    }

    /// The key prefix with its trailing colon.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// A queue-level key: `wait`, `paused`, `meta`, ...
    pub fn of(&self, kind: &str) -> String {
        self.join(kind)
    }

    /// A job's hash.
    pub fn job(&self, id: &str) -> String {
        self.join(id)
    }

    /// Base + suffix without the formatting machinery: a dozen of these are built per job.
    fn join(&self, suffix: &str) -> String {
        let mut s = String::with_capacity(self.base.len() + suffix.len());
        s.push_str(&self.base);
        s.push_str(suffix);
        s
    }
}

/// Node refuses these custom ids; so do we.
pub fn valid_custom_id(id: &str) -> bool {
    if id.is_empty() || id == "0" || id.starts_with("0:") {
        return false;
    }
    // An integer-looking id would collide with auto ids.
    if id.parse::<i64>().is_ok_and(|n| n.to_string() == id) {
        return false;
    }
    !id.contains(':') || id.split(':').count() == 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_bull_layout() {
        let k = Keys::new("bull", "emails");
        assert_eq!(k.of("wait"), "bull:emails:wait");
        assert_eq!(k.job("42"), "bull:emails:42");
        assert_eq!(k.base(), "bull:emails:");
    }

    #[test]
    fn custom_ids_follow_nodes_rules() {
        for good in ["send-daily-digest", "a:b:c", "tenant-1", "01"] {
            assert!(valid_custom_id(good), "{good}");
        }
        for bad in ["0", "0:x", "12", "a:b", "", "-3"] {
            assert!(!valid_custom_id(bad), "{bad}");
        }
    }

    #[test]
    fn prefixes_follow_testplanits_rule() {
        for good in ["bull", "tp-prod_2", "A"] {
            assert_eq!(check_prefix(good), Ok(good));
        }
        for bad in ["", "bull:x", "has space", "é", "{tag}"] {
            assert_eq!(check_prefix(bad), Err(PrefixError(bad.to_string())));
        }
        let shown = PrefixError("a:b".into()).to_string();
        assert!(shown.contains("BULLMQ_PREFIX \"a:b\""), "{shown}");
    }
}
