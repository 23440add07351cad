//! Where the apps' secrets live: an env_file others can read or change fails, a secret-looking
//! value written into the ecosystem file itself is worth a warning.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::{Line, Verdict};
use crate::config::env::redact;
use crate::home::user_name;
use crate::spec::AppSpec;

/// Every env_file the apps read: private to tpctl's user (mode 0600 or stricter, owned by it).
pub fn env_files(specs: &[AppSpec]) -> Vec<Line> {
    let me = nix::unistd::geteuid().as_raw();
    let files: BTreeSet<&Path> = specs
        .iter()
        .flat_map(|s| s.env_sources.files.iter().map(|f| f.path.as_path()))
        .collect();
    let mut lines = Vec::new();
    for path in &files {
        let Ok(meta) = std::fs::metadata(path) else {
            continue; // a missing optional file; a missing required one fails the ecosystem
        };
        let mode = meta.mode() & 0o777;
        let shown = path.display();
        if meta.uid() != me {
            let owner = user_name(meta.uid());
            let mine = user_name(me);
            lines.push(fail(format!(
                "{shown} is owned by {owner}, not {mine} who runs the apps: {owner} can change what they run with; `chown {mine} {shown}`"
            )));
        }
        if mode & 0o077 != 0 {
            let who = match (mode & 0o070 != 0, mode & 0o007 != 0) {
                (true, true) => "its group and every user",
                (true, false) => "its group",
                _ => "every user",
            };
            lines.push(fail(format!(
                "{shown} holds secrets and is open to {who} (mode {mode:04o}): `chmod 600 {shown}`"
            )));
        }
    }
    if lines.is_empty() && !files.is_empty() {
        lines.push(Line {
            check: "secrets",
            verdict: Verdict::Ok,
            detail: format!(
                "{} env file{} private to tpctl's user",
                files.len(),
                if files.len() == 1 { "" } else { "s" }
            ),
        });
    }
    lines
}

/// A secret-looking variable (one `describe` would redact) set in the ecosystem file itself.
pub fn inline(ecosystem: &Path, specs: &[AppSpec]) -> Vec<Line> {
    let mut seen = BTreeSet::new();
    let mut lines = Vec::new();
    for s in specs {
        for (k, v) in &s.env_sources.table {
            if redact(k, v) != *v && seen.insert(k.clone()) {
                lines.push(Line {
                    check: "secrets",
                    verdict: Verdict::Warn,
                    detail: format!(
                        "{k} (app {}) is written in {} itself: move it to an env_file with mode 0600, so the ecosystem file can be shared and committed without it",
                        s.name,
                        ecosystem.display()
                    ),
                });
            }
        }
    }
    lines
}

fn fail(detail: String) -> Line {
    Line {
        check: "secrets",
        verdict: Verdict::Fail,
        detail,
    }
}
