//! "Did you mean": the closest known word to a mistyped one.

/// The candidate closest to `word`, if it is close enough to be a likely typo, or one that
/// `word` abbreviates (`max_memory` for `max_memory_restart`).
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let candidates: Vec<&str> = candidates.into_iter().collect();
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(2))
        .min()
        .map(|(_, c)| c)
        .or_else(|| {
            candidates
                .iter()
                .copied()
                .filter(|c| word.len() >= 3 && c.starts_with(word))
                .min_by_key(|c| c.len())
        })
}

/// Levenshtein distance, for "did you mean".
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("email-worker", "emial-worker"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn closest_ignores_far_candidates() {
        assert_eq!(closest("timeout", ["max_memory_restart", "name"]), None);
        assert_eq!(
            closest("max_memory", ["max_memory_restart", "name"]),
            Some("max_memory_restart")
        );
        assert_eq!(
            closest("kill_timout", ["kill_timeout", "kill_signal"]),
            Some("kill_timeout")
        );
    }
}
