//! Testmo id → TestPlanIt id, for the hundreds of thousands of cases, runs and run tests a
//! large export holds: a sorted vector of `(i32, i32)` pairs, 8 bytes an entry (a JavaScript
//! `Map` of numbers costs about ten times that). Testmo's ids mostly arrive in order, so
//! appending stays cheap; the vector is sorted once, when a phase seals it, and read by
//! binary search after.

#[derive(Default)]
pub struct IdMap {
    pairs: Vec<(i32, i32)>,
    /// How many leading pairs are sorted with distinct ids; the rest are also in `recent`.
    prefix: usize,
    recent: std::collections::HashMap<i32, i32>,
}

impl IdMap {
    pub fn insert(&mut self, source: i32, target: i32) {
        let in_order =
            self.prefix == self.pairs.len() && self.pairs.last().is_none_or(|&(s, _)| s < source);
        self.pairs.push((source, target));
        if in_order {
            self.prefix = self.pairs.len();
        } else {
            self.recent.insert(source, target);
        }
    }

    /// Sorts the pairs; a Testmo id seen twice keeps its last target.
    pub fn seal(&mut self) {
        if self.prefix < self.pairs.len() {
            // Stable, so the later of two equal ids stays later and wins the dedup below.
            self.pairs.sort_by_key(|p| p.0);
            let mut out: Vec<(i32, i32)> = Vec::with_capacity(self.pairs.len());
            for p in self.pairs.drain(..) {
                match out.last_mut() {
                    Some(last) if last.0 == p.0 => *last = p,
                    _ => out.push(p),
                }
            }
            self.pairs = out;
        }
        self.prefix = self.pairs.len();
        self.pairs.shrink_to_fit();
        self.recent = std::collections::HashMap::new();
    }

    pub fn get(&self, source: i32) -> Option<i32> {
        if let Some(t) = self.recent.get(&source) {
            return Some(*t);
        }
        let sorted = &self.pairs[..self.prefix];
        sorted
            .binary_search_by_key(&source, |p| p.0)
            .ok()
            .map(|i| sorted[i].1)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn values(&self) -> impl Iterator<Item = i32> + '_ {
        self.pairs.iter().map(|p| p.1)
    }
}

impl IdMap {
    /// A map from `source → target` pairs (configuration sections).
    pub fn from_pairs(pairs: impl IntoIterator<Item = (i32, i32)>) -> IdMap {
        let mut m = IdMap::default();
        for (s, t) in pairs {
            m.insert(s, t);
        }
        m.seal();
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_before_and_after_sealing() {
        let mut m = IdMap::default();
        m.insert(5, 50);
        m.insert(2, 20);
        m.insert(9, 90);
        m.insert(2, 21);
        assert_eq!(m.get(2), Some(21));
        m.seal();
        assert_eq!(m.len(), 3);
        assert_eq!(m.get(2), Some(21));
        assert_eq!(m.get(9), Some(90));
        assert_eq!(m.get(3), None);
        m.insert(10, 100);
        assert_eq!(m.get(10), Some(100));
        m.seal();
        assert_eq!(m.values().collect::<Vec<_>>(), vec![21, 50, 90, 100]);
    }
}
