//! `tpctl startup [SYSTEM] [--user] [--install | --check | --print]` and `tpctl unstartup`.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{CommandError, Ctx, Outcome, inventory};
use crate::cli::StartupArgs;
use crate::config::defaults::{ECOSYSTEM_FILE, KILL_TIMEOUT};
use crate::dump::{self, Desired};
use crate::policy::Status;
use crate::startup::{self, Params, System, Target};

/// System paths are taken under this root; tests point it at a temporary directory.
fn root() -> PathBuf {
    std::env::var_os("TPCTL_STARTUP_ROOT").map_or_else(|| PathBuf::from("/"), PathBuf::from)
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn io_err(what: String) -> impl FnOnce(std::io::Error) -> CommandError {
    move |source| CommandError::Io { what, source }
}

/// The unit's parameters for the invoking user (or `--run-as`), or root when a saved app runs
/// as another user.
fn params(ctx: &Ctx, args: &StartupArgs) -> Result<Params, CommandError> {
    use nix::unistd::{Group, User, getuid};
    let by_name = |name: &str| {
        User::from_name(name)
            .ok()
            .flatten()
            .ok_or_else(|| CommandError::Usage(format!("no user named {name:?} on this machine")))
    };
    let asked = args.run_as.as_deref().map(by_name).transpose()?;
    let tpctl_home = match (&args.tpctl_home, &asked) {
        (Some(p), _) => p.clone(),
        (None, Some(u)) => u.dir.join(".tpctl"),
        (None, None) => ctx.home.root().to_path_buf(),
    };
    let tpctl_home = std::path::absolute(&tpctl_home)
        .map_err(io_err(format!("cannot resolve {}", tpctl_home.display())))?;
    // Root only when some saved app runs as another user: its keeper must switch to it.
    let saved = dump::load(&tpctl_home).ok().map(|(d, _)| d);
    let other_users: Vec<String> = saved
        .iter()
        .flat_map(|d| &d.apps)
        .filter(|a| a.spec.privileges.account.is_some())
        .map(|a| a.spec.id.clone())
        .collect();
    if !other_users.is_empty()
        && let Some(name) = args.run_as.as_ref().filter(|n| *n != "root")
    {
        return Err(CommandError::Usage(format!(
            "{} run as other users (their `user` key), which only root can switch to: drop --run-as {name}",
            other_users.join(", ")
        )));
    }
    let named = if other_users.is_empty() {
        asked
    } else {
        Some(by_name("root")?)
    };
    // A named user's home from the password database; the invoker's as its shell has it.
    let from_shell = named.is_none();
    let user = match named {
        Some(u) => u,
        None => User::from_uid(getuid()).ok().flatten().ok_or_else(|| {
            CommandError::Usage("cannot find the current user in the password database".into())
        })?,
    };
    let home = match std::env::var_os("HOME") {
        Some(h) if from_shell => PathBuf::from(h),
        _ => user.dir.clone(),
    };
    let group = Group::from_gid(user.gid)
        .ok()
        .flatten()
        .map_or_else(|| user.gid.to_string(), |g| g.name);
    let exe = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(io_err("cannot find the tpctl binary".into()))?;
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into());
    // Stopping must be allowed to take as long as the slowest graceful stop of the saved apps.
    let longest = saved
        .as_ref()
        .and_then(|d| d.apps.iter().map(|a| a.spec.kill_timeout).max())
        .unwrap_or(KILL_TIMEOUT);
    Ok(Params {
        user: user.name,
        group,
        home,
        path,
        tpctl_home,
        exe,
        stop_timeout: longest + Duration::from_secs(30),
        other_users,
    })
}

fn target(args: &StartupArgs) -> Target {
    Target {
        system: args.system.unwrap_or_else(System::detect),
        per_user: args.user,
    }
}

/// `tpctl startup`.
pub fn startup(ctx: &Ctx, args: &StartupArgs) -> Result<Outcome, CommandError> {
    let t = target(args);
    let p = params(ctx, args)?;
    let text = startup::render(t, &p);
    let path = startup::unit_path(t, &p, &root());
    if args.print {
        print!("{text}");
        return Ok(Outcome::Success);
    }
    if args.check {
        return Ok(check(ctx, t, &p));
    }
    let needs_root = !t.per_user && root() == Path::new("/");
    if !args.install || (needs_root && !is_root()) {
        println!(
            "{} boot integration for user {} ({}):\n",
            t.system.name(),
            p.user,
            path.display()
        );
        println!("{text}");
        let cmd = install_command(t, &p);
        if needs_root && !is_root() {
            println!("To install it, run as root:\n\n  {cmd}\n");
        } else {
            println!("To install it, run:\n\n  {cmd}\n");
        }
        return Ok(if args.install {
            Outcome::Failed
        } else {
            Outcome::Success
        });
    }
    install(t, &p, &path, &text)?;
    if !dump::paths(&p.tpctl_home).0.exists() {
        println!(
            "! no saved process list yet: run `tpctl save` once your apps run, or a reboot brings back nothing"
        );
    }
    Ok(Outcome::Success)
}

/// The exact command that installs the integration, as PM2 prints it.
fn install_command(t: Target, p: &Params) -> String {
    let system = t.system.name();
    if t.per_user {
        format!("{} startup {system} --user --install", p.exe.display())
    } else if is_root() {
        format!(
            "{} startup {system} --run-as {} --tpctl-home {} --install",
            p.exe.display(),
            p.user,
            p.tpctl_home.display()
        )
    } else {
        format!(
            "sudo env PATH=\"$PATH\" {} startup {system} --run-as {} --tpctl-home {} --install",
            p.exe.display(),
            p.user,
            p.tpctl_home.display()
        )
    }
}

fn install(t: Target, p: &Params, path: &Path, text: &str) -> Result<(), CommandError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_err(format!("cannot create {}", dir.display())))?;
    }
    crate::persist::write_atomic(
        path,
        text.as_bytes(),
        if t.system == System::Openrc {
            0o755
        } else {
            0o644
        },
        true,
    )
    .map_err(io_err(format!("cannot write {}", path.display())))?;
    crate::say!("✓ wrote {}", path.display());
    let live = root() == Path::new("/");
    let ran = match t.system {
        System::Systemd if live && Path::new("/run/systemd/system").exists() => {
            let user = if t.per_user { vec!["--user"] } else { vec![] };
            run("systemctl", &[user.clone(), vec!["daemon-reload"]].concat())
                && run(
                    "systemctl",
                    &[user, vec!["enable", "tpctl.service"]].concat(),
                )
        }
        System::Openrc if live && startup::which("rc-update").is_some() => {
            run("rc-update", &["add", "tpctl", "default"])
        }
        System::Launchd if live && startup::which("launchctl").is_some() => {
            run("launchctl", &["load", "-w", &path.display().to_string()])
        }
        _ => false,
    };
    if !ran && let Some(link) = startup::enable_link(t, p, &root()) {
        // No running init system to ask (a container, an image being prepared): enable on disk.
        if let Some(dir) = link.parent() {
            std::fs::create_dir_all(dir)
                .map_err(io_err(format!("cannot create {}", dir.display())))?;
        }
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(path, &link)
            .map_err(io_err(format!("cannot create {}", link.display())))?;
    }
    crate::say!("✓ enabled at boot");
    if t.per_user && t.system == System::Systemd {
        println!(
            "! a user unit starts at boot only with lingering: loginctl enable-linger {}",
            p.user
        );
    }
    Ok(())
}

fn run(cmd: &str, args: &[&str]) -> bool {
    match Command::new(cmd).args(args).status() {
        Ok(s) if s.success() => true,
        Ok(s) => {
            eprintln!("! `{cmd} {}` failed ({s})", args.join(" "));
            false
        }
        Err(e) => {
            eprintln!("! cannot run {cmd}: {e}");
            false
        }
    }
}

/// `tpctl unstartup`.
pub fn unstartup(ctx: &Ctx, args: &StartupArgs) -> Result<Outcome, CommandError> {
    let t = target(args);
    let p = params(ctx, args)?;
    let path = startup::unit_path(t, &p, &root());
    let live = root() == Path::new("/");
    if live && t.system == System::Systemd && Path::new("/run/systemd/system").exists() {
        let user = if t.per_user { vec!["--user"] } else { vec![] };
        run(
            "systemctl",
            &[user, vec!["disable", "tpctl.service"]].concat(),
        );
    }
    if let Some(link) = startup::enable_link(t, &p, &root()) {
        remove(&link)?;
    }
    remove(&path)?;
    println!(
        "✓ removed the {} boot integration ({})",
        t.system.name(),
        path.display()
    );
    Ok(Outcome::Success)
}

fn remove(path: &Path) -> Result<(), CommandError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(CommandError::Io {
            what: format!("cannot remove {}", path.display()),
            source: e,
        }),
    }
}

/// `tpctl startup --check`: would a reboot bring the saved list back? Prints a line per check.
fn check(ctx: &Ctx, t: Target, p: &Params) -> Outcome {
    let mut lines: Vec<(bool, String)> = Vec::new();
    let path = startup::unit_path(t, p, &root());
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            lines.push((
                true,
                format!("{} unit installed at {}", t.system.name(), path.display()),
            ));
            lines.push(if p.other_users.is_empty() {
                (
                    true,
                    format!(
                        "no saved app runs as another user: the unit runs as {}{}",
                        p.user,
                        if p.user == "root" {
                            "; give the apps a `user` (or run startup as that user) so they do not run as root"
                        } else {
                            ""
                        }
                    ),
                )
            } else {
                (
                    true,
                    format!(
                        "the unit runs as root: {} switch to their own user",
                        p.other_users.join(", ")
                    ),
                )
            });
            if t.system == System::Systemd && !t.per_user {
                lines.push(if startup::systemd::is_hardened(&text) {
                    (true, "hardened: NoNewPrivileges, ProtectSystem=full, PrivateTmp, ProtectHome, RestrictSUIDSGID, Protect* (kernel tunables and modules, cgroups, hostname)".into())
                } else {
                    (false, format!("the unit lacks the sandbox lines (NoNewPrivileges, ProtectSystem=full, …); run `{}` again", install_command(t, p)))
                });
            }
            if text == startup::render(t, p) {
                lines.push((
                    true,
                    format!(
                        "unit runs {} as {} with TPCTL_HOME={}",
                        p.exe.display(),
                        p.user,
                        p.tpctl_home.display()
                    ),
                ));
            } else {
                lines.push((false, format!("unit differs from what this tpctl would write (binary moved, PATH or TPCTL_HOME changed?); run `{}` again", install_command(t, p))));
            }
            let exe = exec_start(&text);
            match exe
                .as_ref()
                .map(|e| std::fs::metadata(e).map(|m| m.permissions().mode() & 0o111 != 0))
            {
                Some(Ok(true)) => lines.push((
                    true,
                    format!(
                        "binary {} exists",
                        exe.as_ref()
                            .map(|e| e.display().to_string())
                            .unwrap_or_default()
                    ),
                )),
                _ => lines.push((
                    false,
                    format!(
                        "the unit's binary {} is missing or not executable",
                        exe.map(|e| e.display().to_string())
                            .unwrap_or_else(|| "(none)".into())
                    ),
                )),
            }
        }
        Err(_) => lines.push((
            false,
            format!(
                "no {} unit at {}; run `{}`",
                t.system.name(),
                path.display(),
                install_command(t, p)
            ),
        )),
    }
    match startup::enable_link(t, p, &root()) {
        Some(link) if link.exists() => {
            lines.push((true, format!("enabled at boot ({})", link.display())))
        }
        Some(link) => lines.push((
            false,
            format!(
                "not enabled at boot: {} is missing; run `{}`",
                link.display(),
                install_command(t, p)
            ),
        )),
        None => {}
    }
    if p.tpctl_home.is_dir() {
        lines.push((
            true,
            format!("TPCTL_HOME {} exists", p.tpctl_home.display()),
        ));
    } else {
        lines.push((
            false,
            format!("TPCTL_HOME {} does not exist", p.tpctl_home.display()),
        ));
    }
    check_dump(ctx, &mut lines);
    let mut ok = true;
    for (good, text) in &lines {
        println!("{} {text}", if *good { "✓" } else { "✗" });
        ok &= good;
    }
    let _ = std::io::stdout().flush();
    if ok {
        Outcome::Success
    } else {
        Outcome::Failed
    }
}

/// The program of the unit's `ExecStart=` (or the plist's first program argument).
fn exec_start(text: &str) -> Option<PathBuf> {
    if let Some(line) = text.lines().find_map(|l| l.strip_prefix("ExecStart=")) {
        let line = line.trim();
        let exe = match line.strip_prefix('"') {
            Some(rest) => rest.split('"').next()?,
            None => line.split_whitespace().next()?,
        };
        return Some(PathBuf::from(exe));
    }
    if let Some(i) = text.find("<key>ProgramArguments</key>") {
        let rest = &text[i..];
        let start = rest.find("<string>")? + "<string>".len();
        let end = rest[start..].find("</string>")?;
        return Some(PathBuf::from(&rest[start..start + end]));
    }
    text.lines()
        .find_map(|l| l.trim().strip_prefix("su "))
        .and_then(|l| l.rsplit('\'').nth(1))
        .map(PathBuf::from)
}

/// The dump against what runs now and against ./ecosystem.toml.
fn check_dump(ctx: &Ctx, lines: &mut Vec<(bool, String)>) {
    let (saved, warning) = match dump::load(ctx.home.root()) {
        Ok(d) => d,
        Err(e) => {
            lines.push((
                false,
                format!("{e}; run `tpctl save` so a reboot knows what to start"),
            ));
            return;
        }
    };
    match warning {
        Some(w) => lines.push((false, w)),
        None => lines.push((
            true,
            format!(
                "dump readable ({}, saved {})",
                crate::render::count(saved.apps.len(), "app"),
                saved.saved_at
            ),
        )),
    }
    // What each saved app would be started with at boot: its saved environment, no shell's.
    let envs = match dump::load_env(ctx.home.root()) {
        Ok(e) => e.map(|e| e.apps),
        Err(e) => {
            lines.push((false, format!("{e}; run `tpctl save` again")));
            Some(Default::default())
        }
    };
    let mut unbootable = Vec::new();
    for app in saved.apps.iter().filter(|a| a.state == Desired::Running) {
        let recorded = envs
            .as_ref()
            .and_then(|e| e.get(&app.spec.id).cloned())
            .unwrap_or_default();
        match crate::config::required::missing_at_boot(&app.spec, &recorded) {
            Ok(missing) if !missing.is_empty() => {
                unbootable.push(crate::config::required::boot_fix(&app.spec.id, &missing))
            }
            Ok(_) => {}
            Err(e) => unbootable.push(format!("{}: {e}", app.spec.id)),
        }
    }
    if envs.is_none() {
        lines.push((
            false,
            "no environment is saved with the apps (dump written by an older tpctl): run `tpctl save` again".into(),
        ));
    }
    if unbootable.is_empty() {
        lines.push((
            true,
            "every saved app has the variables it needs at boot".into(),
        ));
    } else {
        lines.extend(unbootable.into_iter().map(|u| (false, u)));
    }
    let running: Vec<_> = inventory::all(&ctx.home).unwrap_or_default();
    let mut diffs = Vec::new();
    for app in &saved.apps {
        let now = running.iter().find(|s| s.id == app.spec.id);
        let up = now.is_some_and(|s| {
            matches!(
                s.status,
                Status::Online | Status::Launching | Status::WaitingRestart | Status::Completed
            )
        });
        match (app.state, up) {
            (Desired::Running, false) => diffs.push(format!(
                "{} is saved to start but is {} now",
                app.spec.id,
                now.map_or("unknown", |s| s.status.as_str())
            )),
            (Desired::Stopped, true) => {
                diffs.push(format!("{} is saved as stopped but runs now", app.spec.id))
            }
            _ => {}
        }
    }
    for s in &running {
        if !saved.apps.iter().any(|a| a.spec.id == s.id) {
            diffs.push(format!(
                "{} is known here ({}) but not saved: a reboot would not bring it back",
                s.id,
                s.status.as_str()
            ));
        }
    }
    if diffs.is_empty() {
        lines.push((true, "dump matches what runs now".into()));
    } else {
        lines.push((
            false,
            format!(
                "dump and what runs now differ (run `tpctl save` to record the present): {}",
                diffs.join("; ")
            ),
        ));
    }
    if Path::new(ECOSYSTEM_FILE).is_file() {
        match crate::config::load(Path::new(ECOSYSTEM_FILE)) {
            Ok(specs) => {
                let missing: Vec<String> = specs
                    .iter()
                    .filter(|s| !saved.apps.iter().any(|a| a.spec.id == s.id))
                    .map(|s| s.id.clone())
                    .collect();
                if missing.is_empty() {
                    lines.push((true, format!("every app of ./{ECOSYSTEM_FILE} is saved")));
                } else {
                    lines.push((
                        false,
                        format!(
                            "./{ECOSYSTEM_FILE} has apps that are not saved: {}",
                            missing.join(", ")
                        ),
                    ));
                }
            }
            Err(e) => lines.push((false, format!("./{ECOSYSTEM_FILE} is invalid: {e}"))),
        }
    }
}
