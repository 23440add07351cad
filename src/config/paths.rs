//! Paths in an ecosystem file: relative to the file, `~/` expanded, cleaned lexically; a bare
//! command looked up on PATH; an instance's own log file.

use std::path::{Path, PathBuf};

pub fn absolute(base: &Path, p: &str) -> PathBuf {
    let expanded = match p.strip_prefix("~/") {
        Some(rest) => std::env::var_os("HOME")
            .map_or_else(|| PathBuf::from(p), |h| PathBuf::from(h).join(rest)),
        None => PathBuf::from(p),
    };
    normalize(&if expanded.is_absolute() {
        expanded
    } else {
        base.join(expanded)
    })
}

/// `dir/out.log` → `dir/out-1.log` for instance 1.
pub fn instance_path(path: &Path, i: usize) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}-{i}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{i}"),
    };
    path.with_file_name(name)
}

/// Removes `.` and `//` and takes `..` back against the name before it, lexically (as Node's
/// `path.normalize` does, so PM2's paths and ours agree): `./a//b/../c` → `a/c`, `/../x` →
/// `/x`, `../..` stays; an empty result is `.`.
pub fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut parts: Vec<Component<'_>> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match parts.last() {
                Some(Component::Normal(_)) => {
                    parts.pop();
                }
                // Above the root is the root.
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => parts.push(c),
            },
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        return PathBuf::from(".");
    }
    parts.iter().collect()
}

/// A bare command name (`node`) is looked up on PATH; anything with a slash is a path.
pub fn resolve_script(script: &str, base: &Path, path_var: Option<&String>) -> PathBuf {
    if script.contains('/') || script.starts_with('~') {
        return absolute(base, script);
    }
    if let Some(path_var) = path_var {
        for dir in std::env::split_paths(path_var) {
            let candidate = dir.join(script);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    normalize(&base.join(script))
}
