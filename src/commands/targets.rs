//! Resolving command-line targets (`all`, names, instance ids, ecosystem files) into app specs.
//!
//! Specs are always resolved afresh from their ecosystem file when it still exists, so that an
//! edited file or `.env` takes effect on the next start or restart.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::CommandError;
use super::ecosystem_file::{load_ecosystem_with, pm2_kind};
use crate::config::defaults::ECOSYSTEM_FILE;
use crate::config::env::process_env;

pub use super::ecosystem_file::load_ecosystem;
use crate::home::Home;
use crate::spec::AppSpec;

/// One command-line target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    All,
    File(PathBuf),
    Name(String),
}

impl Target {
    pub fn parse(arg: &str) -> Target {
        let path = Path::new(arg);
        if arg == "all" {
            Target::All
        } else if path.is_file() || arg.ends_with(".toml") || pm2_kind(path).is_some() {
            Target::File(path.to_path_buf())
        } else {
            Target::Name(arg.to_string())
        }
    }
}

/// Reads the saved spec of a known app.
pub fn saved_spec(home: &Home, id: &str) -> Option<AppSpec> {
    let bytes = std::fs::read(home.app(id).spec_path()).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Which environment an app already known inherits when its file is read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvChoice {
    /// The one recorded at its first start (PM2's default): the same from any shell.
    Recorded,
    /// This command's own (`--update-env`), which is then recorded in its place.
    Current,
}

impl EnvChoice {
    pub fn of(update_env: bool) -> EnvChoice {
        if update_env {
            EnvChoice::Current
        } else {
            EnvChoice::Recorded
        }
    }
}

/// Loads ecosystem files once per inherited environment.
struct FileCache {
    files: BTreeMap<(PathBuf, u64), Vec<AppSpec>>,
    current: BTreeMap<String, String>,
    choice: EnvChoice,
}

impl FileCache {
    fn new(choice: EnvChoice) -> FileCache {
        FileCache {
            files: BTreeMap::new(),
            current: process_env(),
            choice,
        }
    }

    /// The file's apps as resolved with `caller` (this process's environment when `None`).
    fn load_with(
        &mut self,
        path: &Path,
        caller: Option<&BTreeMap<String, String>>,
    ) -> Result<&Vec<AppSpec>, CommandError> {
        let caller = caller.unwrap_or(&self.current);
        let key = (path.to_path_buf(), fingerprint(caller));
        if !self.files.contains_key(&key) {
            let specs = load_ecosystem_with(path, caller)?;
            self.files.insert(key.clone(), specs);
        }
        Ok(&self.files[&key])
    }

    fn load(&mut self, path: &Path) -> Result<&Vec<AppSpec>, CommandError> {
        self.load_with(path, None)
    }

    /// App `id` of `path`, resolved with the environment its first start recorded (unless
    /// `--update-env`), or `None` when the file no longer has it.
    fn app(&mut self, home: &Home, path: &Path, id: &str) -> Result<Option<AppSpec>, CommandError> {
        let recorded = match self.choice {
            EnvChoice::Recorded => saved_spec(home, id)
                .map(|s| s.captured_env)
                .filter(|e| !e.is_empty()),
            EnvChoice::Current => None,
        };
        Ok(self
            .load_with(path, recorded.as_ref())?
            .iter()
            .find(|s| s.id == id)
            .cloned())
    }
}

fn fingerprint(env: &BTreeMap<String, String>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    env.hash(&mut h);
    h.finish()
}

/// A known app whose ecosystem file cannot be read now (`all` goes on without it).
#[derive(Debug)]
pub struct Unreadable {
    pub id: String,
    pub error: String,
}

/// Prints one line per file that kept apps of `all` from being resolved; true if any did.
pub fn report_unreadable(unreadable: &[Unreadable], verb: &str) -> bool {
    let mut by_error: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for u in unreadable {
        by_error.entry(&u.error).or_default().push(&u.id);
    }
    for (error, ids) in &by_error {
        println!(
            "✗ {}: not {verb}: {error}\n  (the other apps are {verb} all the same; fix the file, then run the command again)",
            ids.join(", ")
        );
    }
    !unreadable.is_empty()
}

/// Resolves targets to fresh specs, in file order, without duplicates. `default_file`: with no
/// targets, use ./ecosystem.toml. Apps already known inherit the environment `choice` says.
/// With `all`, an app whose file has become invalid is set aside (second value) rather than
/// failing the others: a typo in one file must not block every other file's apps.
pub fn specs(
    home: &Home,
    args: &[String],
    default_file: bool,
    choice: EnvChoice,
) -> Result<(Vec<AppSpec>, Vec<Unreadable>), CommandError> {
    let mut args: Vec<String> = args.to_vec();
    if args.is_empty() {
        if !default_file {
            return Err(CommandError::NoTargets);
        }
        args.push(ECOSYSTEM_FILE.to_string());
    }
    let known = home.app_ids().map_err(|source| CommandError::Io {
        what: format!("cannot list apps in {}", home.root().display()),
        source,
    })?;
    let mut cache = FileCache::new(choice);
    let mut out: Vec<AppSpec> = Vec::new();
    let mut unreadable = Vec::new();
    let mut seen = BTreeSet::new();
    for arg in &args {
        let found: Vec<AppSpec> = match Target::parse(arg) {
            Target::File(path) => {
                let ids: Vec<String> = cache.load(&path)?.iter().map(|s| s.id.clone()).collect();
                let mut found = Vec::with_capacity(ids.len());
                for id in ids {
                    found.extend(cache.app(home, &path, &id)?);
                }
                found
            }
            Target::All => {
                let mut found = Vec::new();
                for id in &known {
                    match fresh(home, id, &mut cache) {
                        Ok(spec) => found.extend(spec),
                        Err(e) => unreadable.push(Unreadable {
                            id: id.clone(),
                            error: e.to_string(),
                        }),
                    }
                }
                found
            }
            Target::Name(name) => {
                let ids: Vec<&String> = known
                    .iter()
                    .filter(|id| matches_app(home, id, &name))
                    .collect();
                if ids.is_empty() {
                    from_default_file(&name, &mut cache, home, &known)?
                } else {
                    ids.into_iter()
                        .filter_map(|id| fresh(home, id, &mut cache).transpose())
                        .collect::<Result<_, _>>()?
                }
            }
        };
        for spec in found {
            if seen.insert(spec.id.clone()) {
                out.push(spec);
            }
        }
    }
    Ok((out, unreadable))
}

/// A dependency `start` adds, or one it cannot find.
pub enum Dependency {
    /// Not running and not completed: started first.
    Added {
        spec: Box<AppSpec>,
        wanted_by: String,
    },
    /// Named by `after` but neither known nor in the dependent's ecosystem file.
    Missing { name: String, wanted_by: String },
}

/// The apps that `specs` run after (transitively) and that are not among them, found in the
/// dependent's own ecosystem file or among the known apps; those already running (or, for a
/// one-shot, completed) are left out, as systemctl does with a unit's requirements.
pub fn dependencies(
    home: &Home,
    specs: &[AppSpec],
    choice: EnvChoice,
) -> Result<Vec<Dependency>, CommandError> {
    let mut present: BTreeSet<String> = specs.iter().map(|s| s.name.clone()).collect();
    let known = home.app_ids().map_err(|source| CommandError::Io {
        what: format!("cannot list apps in {}", home.root().display()),
        source,
    })?;
    let mut cache = FileCache::new(choice);
    let mut out = Vec::new();
    let mut queue: Vec<AppSpec> = specs.to_vec();
    while let Some(spec) = queue.pop() {
        for dep in &spec.after {
            if present.contains(dep) {
                continue;
            }
            present.insert(dep.clone());
            let mut found: Vec<AppSpec> = Vec::new();
            if let Some(file) = spec.source.as_ref().filter(|p| p.exists()) {
                let ids: Vec<String> = cache
                    .load(file)?
                    .iter()
                    .filter(|s| &s.name == dep)
                    .map(|s| s.id.clone())
                    .collect();
                for id in ids {
                    found.extend(cache.app(home, file, &id)?);
                }
            }
            if found.is_empty() {
                found = known
                    .iter()
                    .filter(|id| matches_app(home, id, dep))
                    .filter_map(|id| fresh(home, id, &mut cache).transpose())
                    .collect::<Result<_, _>>()?;
            }
            if found.is_empty() {
                out.push(Dependency::Missing {
                    name: dep.clone(),
                    wanted_by: spec.id.clone(),
                });
                continue;
            }
            let ids: Vec<String> = found.iter().map(|s| s.id.clone()).collect();
            let statuses = super::inventory::statuses(home, &ids);
            for (dep_spec, st) in found.into_iter().zip(statuses) {
                let satisfied = st.status == crate::policy::Status::Completed
                    || (!st.status.is_settled() && st.status != crate::policy::Status::Lost);
                if !satisfied {
                    queue.push(dep_spec.clone());
                    out.push(Dependency::Added {
                        spec: Box::new(dep_spec),
                        wanted_by: spec.id.clone(),
                    });
                }
            }
        }
    }
    Ok(out)
}

/// The command line's targets, with `--only` alone meaning ./ecosystem.toml.
pub fn args_of(t: &crate::cli::Targets) -> Vec<String> {
    if t.targets.is_empty() && !t.only.is_empty() {
        vec![ECOSYSTEM_FILE.to_string()]
    } else {
        t.targets.clone()
    }
}

/// Keeps the items whose app name is in `only` (all when it is empty); a name in `only` that
/// matches none of them is an error with the names there are.
pub fn keep_only<T>(
    items: Vec<T>,
    only: &[String],
    name: impl Fn(&T) -> String,
) -> Result<Vec<T>, CommandError> {
    if only.is_empty() {
        return Ok(items);
    }
    let names: Vec<String> = items.iter().map(&name).collect();
    if let Some(missing) = only.iter().find(|o| !names.contains(o)) {
        return Err(unknown(missing, &names));
    }
    Ok(items
        .into_iter()
        .zip(names)
        .filter(|(_, n)| only.contains(n))
        .map(|(i, _)| i)
        .collect())
}

/// `keep_only` for app ids, by the names in their saved specs.
pub fn keep_only_ids(
    home: &Home,
    ids: Vec<String>,
    only: &[String],
) -> Result<Vec<String>, CommandError> {
    keep_only(ids, only, |id| {
        saved_spec(home, id).map_or_else(|| id.clone(), |s| s.name)
    })
}

/// Resolves targets to the ids of known apps (for stop, delete): files name their apps.
pub fn ids(home: &Home, args: &[String]) -> Result<Vec<String>, CommandError> {
    if args.is_empty() {
        return Err(CommandError::NoTargets);
    }
    let known = home.app_ids().map_err(|source| CommandError::Io {
        what: format!("cannot list apps in {}", home.root().display()),
        source,
    })?;
    let mut out = Vec::new();
    for arg in args {
        let found: Vec<String> = match Target::parse(arg) {
            Target::All => known.clone(),
            Target::File(path) => {
                let specs = load_ecosystem(&path)?;
                specs
                    .into_iter()
                    .map(|s| s.id)
                    .filter(|id| known.contains(id))
                    .collect()
            }
            Target::Name(name) => {
                let ids: Vec<String> = known
                    .iter()
                    .filter(|id| matches_app(home, id, &name))
                    .cloned()
                    .collect();
                if ids.is_empty() {
                    return Err(unknown(&name, &known));
                }
                ids
            }
        };
        for id in found {
            if !out.contains(&id) {
                out.push(id);
            }
        }
    }
    Ok(out)
}

/// True when `arg` is the instance id, the app name or the number (`status` shows it) of `id`.
pub fn matches_app(home: &Home, id: &str, arg: &str) -> bool {
    if is_glob(arg) {
        return glob(arg, id) || saved_spec(home, id).is_some_and(|s| glob(arg, &s.name));
    }
    id == arg
        || saved_spec(home, id).is_some_and(|s| s.name == arg)
        || (!arg.is_empty()
            && arg.bytes().all(|b| b.is_ascii_digit())
            && home.number_of(id).is_some_and(|n| n.to_string() == arg))
}

/// True for an app selection by pattern (`'webhook-*'`).
pub fn is_glob(arg: &str) -> bool {
    arg.contains(['*', '?'])
}

/// Shell-style matching: `*` any run of characters, `?` any one.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Classic backtracking over the last `*`.
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < t.len() {
        if i < p.len() && (p[i] == '?' || p[i] == t[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    while i < p.len() && p[i] == '*' {
        i += 1;
    }
    i == p.len()
}

/// The app's spec re-read from its ecosystem file, or the saved one if the file no longer has it.
fn fresh(home: &Home, id: &str, cache: &mut FileCache) -> Result<Option<AppSpec>, CommandError> {
    let Some(saved) = saved_spec(home, id) else {
        return Ok(None);
    };
    if let Some(source) = saved.source.as_ref().filter(|p| p.exists()) {
        if let Some(spec) = cache.app(home, source, id)? {
            return Ok(Some(spec));
        }
        tracing::warn!(app = id, file = %source.display(), "app no longer in its ecosystem file; using its saved settings");
    }
    // Its env files are read again all the same, over the environment `choice` names.
    let caller = match cache.choice {
        EnvChoice::Recorded if !saved.captured_env.is_empty() => saved.captured_env.clone(),
        _ => cache.current.clone(),
    };
    Ok(Some(with_inherited(saved, caller)?))
}

/// The spec with its environment layered again over `caller`, which becomes its recorded one.
pub fn with_inherited(
    mut spec: AppSpec,
    caller: BTreeMap<String, String>,
) -> Result<AppSpec, CommandError> {
    let (env, configured) = spec
        .env_sources
        .layer(&caller)
        .map_err(|e| CommandError::Usage(format!("{}: {e}", spec.id)))?;
    spec.env = env;
    spec.env_from_config = configured;
    spec.captured_env = caller;
    Ok(spec)
}

fn from_default_file(
    name: &str,
    cache: &mut FileCache,
    home: &Home,
    known: &[String],
) -> Result<Vec<AppSpec>, CommandError> {
    let default = Path::new(ECOSYSTEM_FILE);
    let mut candidates: Vec<String> = known.to_vec();
    if default.is_file() {
        let specs = cache.load(default)?;
        let found: Vec<AppSpec> = specs
            .iter()
            .filter(|s| {
                s.name == name
                    || s.id == name
                    || (is_glob(name) && (glob(name, &s.name) || glob(name, &s.id)))
            })
            .cloned()
            .collect();
        if !found.is_empty() {
            return Ok(found);
        }
        candidates.extend(specs.iter().map(|s| s.name.clone()));
    }
    let _ = home;
    candidates.sort();
    candidates.dedup();
    Err(unknown(name, &candidates))
}

fn unknown(name: &str, known: &[String]) -> CommandError {
    let suggestion = crate::suggest::closest(name, known.iter().map(String::as_str))
        .map(|k| format!(" (did you mean {k:?}?)"))
        .unwrap_or_default();
    // A suggestion says enough; a short list helps; a fleet's names would bury the error.
    let known = if known.is_empty() {
        "; no app is known yet (start an ecosystem file first)".to_string()
    } else if !suggestion.is_empty() {
        String::new()
    } else if known.len() <= 12 {
        format!("; known apps: {}", known.join(", "))
    } else {
        format!("; `tpctl status` lists the {} known apps", known.len())
    };
    CommandError::UnknownApp {
        name: name.to_string(),
        known,
        suggestion,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_app_suggests_the_closest_name() {
        let err = unknown(
            "emial-worker",
            &["email-worker".into(), "forecast-worker".into()],
        );
        let text = err.to_string();
        assert_eq!(
            text,
            "unknown app \"emial-worker\" (did you mean \"email-worker\"?)"
        );
        let many: Vec<String> = (0..26).map(|i| format!("worker-{i}")).collect();
        assert_eq!(
            unknown("zzz", &many).to_string(),
            "unknown app \"zzz\"; `tpctl status` lists the 26 known apps"
        );
    }

    #[test]
    fn globs_match_names_and_ids() {
        assert!(glob("webhook-*", "webhook-dispatch-worker"));
        assert!(glob("*-worker", "email-worker"));
        assert!(glob("web-?", "web-1"));
        assert!(!glob("webhook-*", "email-worker"));
        assert!(glob("*", ""));
        assert!(!glob("a?", "a"));
    }
}
