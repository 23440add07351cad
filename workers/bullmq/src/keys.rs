//! Key names of one queue: `<prefix>:<queue>:<type>` and job keys `<prefix>:<queue>:<id>`.

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
}
