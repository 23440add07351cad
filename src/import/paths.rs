//! Paths in imported apps: written as PM2 resolved them (Node's `path.resolve`, lexically:
//! no `.`, no `//`, `..` taken back against the name before it), and rebased when the
//! ecosystem.toml goes to another directory than the PM2 file.

use std::path::Path;

use super::{Imported, toml_str};

/// `path` cleaned lexically, as Node's `path.normalize` does it (the config's own cleaning):
/// `./a//b/../c/` → `a/c`, `/x/./y` → `/x/y`, `.` or `./` → `.`.
pub fn normalize(path: &str) -> String {
    crate::config::paths::normalize(Path::new(path))
        .display()
        .to_string()
}

/// A program's path normalised; one without a `/` keeps `./`, or it would be looked up on
/// PATH instead of in the app's directory.
pub fn normalize_program(path: &str) -> String {
    if !path.contains('/') {
        return path.to_string();
    }
    let n = normalize(path);
    if n.contains('/') { n } else { format!("./{n}") }
}

/// For an ecosystem.toml written to another directory than the PM2 file's (`--output`): paths
/// that were relative to the PM2 file's directory are made absolute against `from`, and an app
/// without `cwd` gets that directory, so relative `args` still find their files.
pub fn rebase(apps: &mut [Imported], from: &Path) {
    let text_of = |v: &str| {
        toml::from_str::<toml::Table>(&format!("v = {v}"))
            .ok()
            .and_then(|t| t.get("v").and_then(|x| x.as_str()).map(str::to_string))
    };
    let from = normalize(&from.display().to_string());
    for a in apps.iter_mut() {
        let mut has_cwd = false;
        for (k, v) in a.keys.iter_mut() {
            let is_path = match k.as_str() {
                "cwd" => {
                    has_cwd = true;
                    true
                }
                "out_file" | "error_file" => true,
                // A bare command (node, tp-worker) is looked up on PATH, not rebased.
                "script" => text_of(v).is_some_and(|t| t.contains('/')),
                _ => false,
            };
            if let Some(t) = text_of(v).filter(|t| is_path && !t.starts_with('/')) {
                *v = toml_str(&normalize(&format!("{from}/{t}")));
            }
        }
        if !has_cwd {
            a.keys.push(("cwd".into(), toml_str(&from)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{normalize, normalize_program};

    #[test]
    fn paths_are_cleaned_as_node_cleans_them() {
        for (given, want) in [
            ("./dist/workers/../workers/a.js", "dist/workers/a.js"),
            ("/tmp/p/./", "/tmp/p"),
            ("/var/log/x//a.err", "/var/log/x/a.err"),
            ("/tmp/p/./logs/../logs/a.log", "/tmp/p/logs/a.log"),
            (".", "."),
            ("./", "."),
            ("a/..", "."),
            ("../shared/x", "../shared/x"),
            ("a/../../b", "../b"),
            ("/../x", "/x"),
            ("/", "/"),
        ] {
            assert_eq!(normalize(given), want, "{given}");
        }
    }

    #[test]
    fn a_program_in_the_apps_directory_keeps_its_dot_slash() {
        assert_eq!(normalize_program("./api"), "./api");
        assert_eq!(normalize_program("./bin/../api"), "./api");
        assert_eq!(normalize_program("./bin/api"), "bin/api");
        assert_eq!(normalize_program("node"), "node");
    }
}
