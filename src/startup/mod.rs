//! Boot integration: `tpctl startup` renders (pure functions, snapshot-tested), installs,
//! enables, checks and removes the unit that runs `tpctl resurrect` at boot.
//!
//! The design is one unit that resurrects the saved list (not one unit per app): the dump is
//! the single description of what should run, `save` is the one way to change it, and the
//! keepers still supervise their apps themselves. Stopping the unit runs `tpctl kill`, a
//! graceful stop with each app's kill_signal and kill_timeout.

pub mod launchd;
pub mod openrc;
pub mod systemd;

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The init systems tpctl integrates with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum System {
    Systemd,
    Launchd,
    Openrc,
}

impl System {
    /// The init system of this machine.
    pub fn detect() -> System {
        if cfg!(target_os = "macos") {
            System::Launchd
        } else if Path::new("/run/systemd/system").exists() || which("systemctl").is_some() {
            System::Systemd
        } else if Path::new("/sbin/openrc-run").exists() {
            System::Openrc
        } else {
            System::Systemd
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            System::Systemd => "systemd",
            System::Launchd => "launchd",
            System::Openrc => "openrc",
        }
    }
}

/// Everything a unit needs to know: whom to run as, and the environment tpctl needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    pub user: String,
    pub group: String,
    pub home: PathBuf,
    pub path: String,
    pub tpctl_home: PathBuf,
    /// Absolute path of the tpctl binary.
    pub exe: PathBuf,
    /// How long a stop may take: the longest kill_timeout plus a margin.
    pub stop_timeout: Duration,
    /// The saved apps that run as another user (`user`): the unit then runs as root.
    pub other_users: Vec<String>,
}

/// Where a unit goes and how it is enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub system: System,
    /// A per-user unit (`systemctl --user`, a LaunchAgent) rather than a system one.
    pub per_user: bool,
}

/// The unit's text.
pub fn render(t: Target, p: &Params) -> String {
    match t.system {
        System::Systemd => systemd::unit(p, t.per_user),
        System::Launchd => launchd::plist(p, t.per_user),
        System::Openrc => openrc::script(p),
    }
}

/// Where the unit file goes. `root` prefixes system paths (`/` normally).
pub fn unit_path(t: Target, p: &Params, root: &Path) -> PathBuf {
    match (t.system, t.per_user) {
        (System::Systemd, false) => root.join("etc/systemd/system/tpctl.service"),
        (System::Systemd, true) => p.home.join(".config/systemd/user/tpctl.service"),
        (System::Launchd, false) => root.join("Library/LaunchDaemons/dev.tpctl.plist"),
        (System::Launchd, true) => p.home.join("Library/LaunchAgents/dev.tpctl.plist"),
        (System::Openrc, _) => root.join("etc/init.d/tpctl"),
    }
}

/// The link whose presence means "enabled at boot", where the init system uses one.
pub fn enable_link(t: Target, p: &Params, root: &Path) -> Option<PathBuf> {
    match (t.system, t.per_user) {
        (System::Systemd, false) => {
            Some(root.join("etc/systemd/system/multi-user.target.wants/tpctl.service"))
        }
        (System::Systemd, true) => Some(
            p.home
                .join(".config/systemd/user/default.target.wants/tpctl.service"),
        ),
        (System::Openrc, _) => Some(root.join("etc/runlevels/default/tpctl")),
        (System::Launchd, _) => None,
    }
}

/// An executable on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        Params {
            user: "testplanit".into(),
            group: "testplanit".into(),
            home: "/home/testplanit".into(),
            path: "/usr/local/bin:/usr/bin:/bin".into(),
            tpctl_home: "/home/testplanit/.tpctl".into(),
            exe: "/usr/local/bin/tpctl".into(),
            stop_timeout: Duration::from_secs(60),
            other_users: vec![],
        }
    }

    /// Compares with the snapshot in tests/fixtures/startup; `TPCTL_UPDATE_SNAPSHOTS=1`
    /// rewrites it (then review the diff).
    fn snapshot(name: &str, text: &str) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/startup")
            .join(name);
        if std::env::var_os("TPCTL_UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&path, text).expect("write snapshot");
        }
        let want =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(text, want, "{name} differs from its snapshot");
    }

    #[test]
    fn systemd_system_unit_matches_snapshot() {
        snapshot(
            "tpctl.service",
            &render(
                Target {
                    system: System::Systemd,
                    per_user: false,
                },
                &params(),
            ),
        );
    }

    #[test]
    fn systemd_user_unit_matches_snapshot() {
        snapshot(
            "tpctl-user.service",
            &render(
                Target {
                    system: System::Systemd,
                    per_user: true,
                },
                &params(),
            ),
        );
    }

    #[test]
    fn launchd_plist_matches_snapshot() {
        snapshot(
            "dev.tpctl.plist",
            &render(
                Target {
                    system: System::Launchd,
                    per_user: false,
                },
                &params(),
            ),
        );
    }

    #[test]
    fn openrc_script_matches_snapshot() {
        snapshot(
            "tpctl.openrc",
            &render(
                Target {
                    system: System::Openrc,
                    per_user: false,
                },
                &params(),
            ),
        );
    }

    #[test]
    fn units_go_where_their_init_system_looks() {
        let p = params();
        let root = Path::new("/");
        assert_eq!(
            unit_path(
                Target {
                    system: System::Systemd,
                    per_user: false
                },
                &p,
                root
            ),
            Path::new("/etc/systemd/system/tpctl.service")
        );
        assert_eq!(
            unit_path(
                Target {
                    system: System::Systemd,
                    per_user: true
                },
                &p,
                root
            ),
            Path::new("/home/testplanit/.config/systemd/user/tpctl.service")
        );
        assert_eq!(
            enable_link(
                Target {
                    system: System::Openrc,
                    per_user: false
                },
                &p,
                root
            ),
            Some(PathBuf::from("/etc/runlevels/default/tpctl"))
        );
    }
}
