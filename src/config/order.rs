//! Start order from `after`: apps grouped into waves, each wave depending only on earlier ones.

use std::collections::{BTreeMap, BTreeSet};

use crate::spec::AppSpec;

/// Groups the given instances into waves by their apps' `after` lists, keeping file order within
/// a wave. Dependencies outside the given set are ignored (the operator started a subset).
/// `resolve` has already rejected cycles; any left (impossible) end up in the last wave.
pub fn waves(specs: &[AppSpec]) -> Vec<Vec<&AppSpec>> {
    let present: BTreeSet<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    let mut level: BTreeMap<&str, usize> = BTreeMap::new();
    let mut remaining: Vec<&AppSpec> = specs.iter().collect();
    let mut current = 0;
    while !remaining.is_empty() {
        let (ready, blocked): (Vec<&AppSpec>, Vec<&AppSpec>) =
            remaining.into_iter().partition(|s| {
                s.after
                    .iter()
                    .filter(|d| present.contains(d.as_str()) && d.as_str() != s.name)
                    .all(|d| level.get(d.as_str()).is_some_and(|l| *l < current))
            });
        // Only reachable with a cycle, which `resolve` rejects: place the rest rather than loop.
        let (ready, blocked) = if ready.is_empty() {
            (blocked, vec![])
        } else {
            (ready, blocked)
        };
        for s in &ready {
            level.entry(s.name.as_str()).or_insert(current);
        }
        remaining = blocked;
        current += 1;
    }
    let mut out: Vec<Vec<&AppSpec>> = vec![Vec::new(); current];
    for s in specs {
        out[level[s.name.as_str()]].push(s);
    }
    out.retain(|w| !w.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    fn ids(waves: &[Vec<&AppSpec>]) -> Vec<Vec<String>> {
        waves
            .iter()
            .map(|w| w.iter().map(|s| s.id.clone()).collect())
            .collect()
    }

    #[test]
    fn one_shot_first_then_dependents_together() {
        let text = r#"
[[apps]]
name = "web"
script = "/bin/true"
after = ["scheduler", "db-migrate"]
instances = 2
[[apps]]
name = "scheduler"
script = "/bin/true"
autorestart = false
after = "db-migrate"
[[apps]]
name = "db-migrate"
script = "/bin/true"
autorestart = false
[[apps]]
name = "mail"
script = "/bin/true"
after = "scheduler"
"#;
        let specs = parse(
            std::path::Path::new("/x/ecosystem.toml"),
            text,
            &BTreeMap::new(),
        )
        .expect("valid");
        assert_eq!(
            ids(&waves(&specs)),
            vec![
                vec!["db-migrate".to_string()],
                vec!["scheduler".into()],
                vec!["web-0".into(), "web-1".into(), "mail".into()]
            ]
        );
    }

    #[test]
    fn unselected_dependencies_do_not_block() {
        let text = "[[apps]]\nname='a'\nscript='/bin/true'\n[[apps]]\nname='b'\nscript='/bin/true'\nafter='a'\n";
        let specs =
            parse(std::path::Path::new("/x/e.toml"), text, &BTreeMap::new()).expect("valid");
        let only_b: Vec<AppSpec> = specs.into_iter().filter(|s| s.name == "b").collect();
        assert_eq!(ids(&waves(&only_b)), vec![vec!["b".to_string()]]);
    }
}
