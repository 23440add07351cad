//! The run directory (`TPCTL_HOME`, default `~/.tpctl`) and the layout of each app's directory.
//!
//! ```text
//! $TPCTL_HOME/            0700
//!   apps/<id>/            one directory per app instance
//!     lock                held (flock) by the keeper for its whole life
//!     control.sock        the keeper's control socket, 0600
//!     spec.json           the resolved spec the keeper runs
//!     state.json          status and ledger, replaced atomically on every change
//!     keeper.log          the keeper's own diagnostics
//!     number              its number (`tpctl stop 3`), given once
//!     logs/out.log, logs/err.log
//! ```

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// Why the run directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    #[error("cannot use {path} as TPCTL_HOME: {source}; set TPCTL_HOME to a writable directory")]
    Unusable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot find a home directory for TPCTL_HOME: set HOME or TPCTL_HOME")]
    NoHome,
    #[error(
        "the apps under TPCTL_HOME {} belong to user {owner}: run tpctl as that user (sudo -u {owner} tpctl ...) or root, or use a TPCTL_HOME of your own",
        path.display()
    )]
    Foreign { path: PathBuf, owner: String },
}

/// A user's name, or `uid N` when it has none.
pub fn user_name(uid: u32) -> String {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map_or_else(|| format!("uid {uid}"), |u| u.name)
}

/// The run directory.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// `TPCTL_HOME`, or `~/.tpctl`.
    pub fn from_env() -> Result<Home, HomeError> {
        if let Some(dir) = std::env::var_os("TPCTL_HOME").filter(|d| !d.is_empty()) {
            return Ok(Home {
                root: PathBuf::from(dir),
            });
        }
        let home = std::env::var_os("HOME")
            .filter(|d| !d.is_empty())
            .ok_or(HomeError::NoHome)?;
        Ok(Home {
            root: PathBuf::from(home).join(".tpctl"),
        })
    }

    /// The run directory at `root`.
    pub fn at(root: impl Into<PathBuf>) -> Home {
        Home { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Refuses a run directory another user owns (root may use any): its keepers would not
    /// answer, and files made here would lock its owner out.
    pub fn check_owner(&self) -> Result<(), HomeError> {
        let me = nix::unistd::geteuid();
        if me.is_root() {
            return Ok(());
        }
        // The apps' directory too: keepers another user started make theirs there.
        for dir in [&self.root, &self.apps_dir()] {
            if let Ok(m) = fs::metadata(dir)
                && m.uid() != me.as_raw()
            {
                return Err(HomeError::Foreign {
                    path: self.root.clone(),
                    owner: user_name(m.uid()),
                });
            }
        }
        Ok(())
    }

    /// Creates the run directory (0700) and `apps/`, and checks they are writable.
    pub fn ensure(&self) -> Result<(), HomeError> {
        let unusable = |source| HomeError::Unusable {
            path: self.root.clone(),
            source,
        };
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(self.apps_dir())
            .map_err(unusable)?;
        self.check_owner()?;
        // Private, as created: a looser mode (someone's chmod) is put back.
        for dir in [self.root.clone(), self.apps_dir()] {
            let meta = fs::metadata(&dir).map_err(unusable)?;
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(dir = %dir.display(), mode = format!("{:o}", meta.permissions().mode() & 0o777), "the run directory was open to others; made private (0700) again");
                fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(unusable)?;
            }
        }
        // Creating a directory can succeed where writing files does not (a read-only bind mount).
        let probe = self
            .apps_dir()
            .join(format!(".probe.{}", std::process::id()));
        File::create(&probe).map_err(unusable)?;
        let _ = fs::remove_file(probe);
        Ok(())
    }

    pub fn apps_dir(&self) -> PathBuf {
        self.root.join("apps")
    }

    pub fn app(&self, id: &str) -> AppDir {
        AppDir {
            dir: self.apps_dir().join(id),
        }
    }

    /// Every app instance that has a directory, sorted by id.
    pub fn app_ids(&self) -> io::Result<Vec<String>> {
        let mut ids = Vec::new();
        match fs::read_dir(self.apps_dir()) {
            Ok(entries) => {
                for entry in entries {
                    let entry = entry?;
                    if entry.path().join("spec.json").exists()
                        && let Ok(name) = entry.file_name().into_string()
                    {
                        ids.push(name);
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        ids.sort();
        Ok(ids)
    }

    /// The number given to an app, if it has one yet.
    pub fn number_of(&self, id: &str) -> Option<u32> {
        self.app(id).number()
    }

    /// Each app's number (PM2's numeric id: `tpctl restart 3`), given once and kept in
    /// `apps/<id>/number` until the app is deleted; apps without one get the lowest free
    /// numbers, in id order, under a lock so that two commands never hand out the same one.
    pub fn numbers(&self, ids: &[String]) -> io::Result<std::collections::BTreeMap<String, u32>> {
        let read = |id: &str| self.number_of(id);
        let mut out: std::collections::BTreeMap<String, u32> = ids
            .iter()
            .filter_map(|id| Some((id.clone(), read(id)?)))
            .collect();
        if out.len() == ids.len() {
            return Ok(out);
        }
        let file = lock_file(&self.root.join("numbers.lock"))?;
        let _lock =
            Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| io::Error::from(e))?;
        // Every directory's number counts, also of apps being launched right now (whose
        // spec.json is not written yet).
        let mut taken: std::collections::BTreeSet<u32> = match fs::read_dir(self.apps_dir()) {
            Ok(entries) => entries
                .flatten()
                .filter_map(|e| AppDir::at(e.path()).number())
                .collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Default::default(),
            Err(e) => return Err(e),
        };
        for id in ids {
            if out.contains_key(id) {
                continue;
            }
            // Another command may have numbered it since we looked.
            let n = match read(id) {
                Some(n) => n,
                None => {
                    let n = (0..).find(|n| !taken.contains(n)).unwrap_or(0);
                    crate::persist::write_atomic(
                        &self.app(id).number_path(),
                        format!("{n}\n").as_bytes(),
                        0o600,
                        false,
                    )?;
                    n
                }
            };
            taken.insert(n);
            out.insert(id.clone(), n);
        }
        Ok(out)
    }
}

/// One app instance's directory.
#[derive(Debug, Clone)]
pub struct AppDir {
    dir: PathBuf,
}

impl AppDir {
    pub fn at(dir: impl Into<PathBuf>) -> AppDir {
        AppDir { dir: dir.into() }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
    pub fn lock_path(&self) -> PathBuf {
        self.dir.join("lock")
    }
    pub fn socket_path(&self) -> PathBuf {
        self.dir.join("control.sock")
    }
    pub fn spec_path(&self) -> PathBuf {
        self.dir.join("spec.json")
    }
    pub fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }
    pub fn keeper_log_path(&self) -> PathBuf {
        self.dir.join("keeper.log")
    }
    pub fn number_path(&self) -> PathBuf {
        self.dir.join("number")
    }
    /// The number given to this app, if it has one yet.
    pub fn number(&self) -> Option<u32> {
        fs::read_to_string(self.number_path())
            .ok()?
            .trim()
            .parse()
            .ok()
    }
    pub fn logs_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }

    /// Creates the directory and its `logs/`, private to the user.
    pub fn ensure(&self) -> io::Result<()> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(self.logs_dir())?;
        for dir in [self.dir.clone(), self.logs_dir()] {
            if fs::metadata(&dir)?.permissions().mode() & 0o077 != 0 {
                fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
            }
        }
        Ok(())
    }

    /// Takes the app's lock, waiting up to `patience` for a keeper that is on its way out.
    /// `Ok(None)`: another process (a live keeper) still holds it.
    pub fn lock_within(&self, patience: std::time::Duration) -> io::Result<Option<Flock<File>>> {
        let deadline = std::time::Instant::now() + patience;
        loop {
            match self.try_lock()? {
                Some(lock) => return Ok(Some(lock)),
                None if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(5))
                }
                None => return Ok(None),
            }
        }
    }

    /// Takes the app's lock without waiting. `Ok(None)`: another process (a live keeper) holds it.
    pub fn try_lock(&self) -> io::Result<Option<Flock<File>>> {
        let file = lock_file(&self.lock_path())?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(Some(lock)),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
            Err((_, e)) => Err(io::Error::from(e)),
        }
    }
}

/// Opens (creating, 0600) a file that exists to be flocked.
fn lock_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
}
