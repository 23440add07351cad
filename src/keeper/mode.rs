//! Where a keeper keeps its files (its app's run directory and control socket) and where the
//! app's output goes (log files, or `tpctl run`'s terminal).

use std::os::unix::net::UnixListener;

use crate::home::AppDir;

/// Where the keeper keeps its files and where the app's output goes.
pub struct Mode {
    /// The app's run directory (lock held) and its bound control socket: what `status`,
    /// `describe`, `restart` and the apps waiting on this one talk to. Only a `tpctl run`
    /// whose TPCTL_HOME cannot be used goes without.
    pub run_dir: Option<RunDir>,
    /// `tpctl run`: the terminal instead of log files.
    pub terminal: Option<Terminal>,
}

/// A run directory in use.
pub struct RunDir {
    pub dir: AppDir,
    pub listener: UnixListener,
}

/// How `tpctl run` shows an app's lines.
pub struct Terminal {
    /// `name | ` (stderr lines get `name ! `).
    pub prefix: Vec<u8>,
    /// One JSON object per line (`{"time", "app", "stream", "line"}`) instead of prefixes.
    pub json: bool,
}

impl Mode {
    /// A detached keeper: run directory, socket, log files.
    pub fn background(dir: AppDir, listener: UnixListener) -> Mode {
        Mode {
            run_dir: Some(RunDir { dir, listener }),
            terminal: None,
        }
    }

    pub(super) fn dir(&self) -> Option<&AppDir> {
        self.run_dir.as_ref().map(|r| &r.dir)
    }
}
