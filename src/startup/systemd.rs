//! The systemd unit: one service that resurrects the saved list at boot and stops every app
//! gracefully when stopped (see README, "Boot").

use super::Params;

/// The sandbox a system unit gets: what a careful operator adds by hand and a supervisor
/// survives. Not more: MemoryDenyWriteExecute would break Node's JIT, a system-call filter or
/// a capability bounding set would break keepers that switch users, signal them and read
/// their /proc entries, and PrivateDevices (or what implies a device policy: ProtectClock,
/// ProtectKernelLogs) can break apps that need a device.
fn hardening(p: &Params) -> String {
    let home = p.tpctl_home.as_path();
    let under = |dir: &str| home.starts_with(dir);
    let mut lines = vec![
        "NoNewPrivileges=yes".to_string(),
        "ProtectSystem=full".into(),
    ];
    // /tmp private to the service, unless the run directory is there (the CLI would not see it).
    if !under("/tmp") && !under("/var/tmp") {
        lines.push("PrivateTmp=yes".into());
    }
    // Homes read-only, unless the run directory is in one (keepers write their logs there).
    if !under("/home") && !under("/root") && !under("/run/user") {
        lines.push("ProtectHome=read-only".into());
    }
    // ProtectSystem=full makes /usr, /boot and /etc read-only: a run directory there stays
    // writable.
    if under("/usr") || under("/etc") || under("/boot") {
        lines.push(format!(
            "ReadWritePaths={}",
            quoted(&home.display().to_string())
        ));
    }
    lines.extend(
        [
            "ProtectKernelTunables=yes",
            "ProtectKernelModules=yes",
            "ProtectControlGroups=yes",
            "ProtectHostname=yes",
            "RestrictSUIDSGID=yes",
            "RestrictRealtime=yes",
            "LockPersonality=yes",
        ]
        .map(String::from),
    );
    lines.join("\n") + "\n"
}

/// Whether a unit file carries the sandbox lines (for `startup --check`).
pub fn is_hardened(text: &str) -> bool {
    [
        "NoNewPrivileges=yes",
        "ProtectSystem=full",
        "RestrictSUIDSGID=yes",
    ]
    .iter()
    .all(|l| text.lines().any(|x| x.trim() == *l))
}

/// Renders `tpctl.service`; `user_unit` for `systemctl --user` (no `User=`, `default.target`).
pub fn unit(p: &Params, user_unit: bool) -> String {
    let user = if user_unit {
        String::new()
    } else {
        format!("User={}\nGroup={}\n", p.user, p.group)
    };
    let target = if user_unit {
        "default.target"
    } else {
        "multi-user.target"
    };
    let after = if user_unit {
        ""
    } else {
        " postgresql.service redis-server.service valkey.service"
    };
    let sandbox = if user_unit {
        String::new()
    } else {
        format!(
            "# A sandbox that leaves a supervisor working (see tpctl-startup(1)); apps that need\n\
             # another user get it from their own `user` key, not from this unit.\n{}",
            hardening(p)
        )
    };
    format!(
        "# Written by `tpctl startup systemd`; `tpctl unstartup systemd` removes it.
[Unit]
Description=tpctl: TestPlanIt background workers ({user_name})
Documentation=https://github.com/testplanit/testplanit
After=network-online.target{after}
Wants=network-online.target

[Service]
# resurrect starts one keeper per app and returns; the keepers are the service's processes.
Type=oneshot
RemainAfterExit=yes
# Exit 1 means some app is not up yet (a one-shot retrying, its dependents waiting) or failed;
# the others run, and a failed start must not make systemd stop them all.
SuccessExitStatus=1
{user}Environment={home}
Environment={path}
Environment={tpctl_home}
ExecStart={exe} resurrect
# A graceful stop: each app gets its kill_signal, then SIGKILL after its kill_timeout.
ExecStop={exe} kill
ExecReload={exe} reload-logs
TimeoutStartSec=15min
TimeoutStopSec={stop_secs}
# Whatever tpctl kill left behind (nothing, normally) gets SIGTERM, which keepers turn into
# a graceful stop of their app.
KillMode=control-group
LimitNOFILE=65536
{sandbox}
[Install]
WantedBy={target}
",
        user_name = p.user,
        home = quoted(&format!("HOME={}", p.home.display())),
        path = quoted(&format!("PATH={}", p.path)),
        tpctl_home = quoted(&format!("TPCTL_HOME={}", p.tpctl_home.display())),
        exe = quoted(&p.exe.display().to_string()),
        stop_secs = p.stop_timeout.as_secs(),
    )
}

/// A systemd word: quoted when it holds a space, quote or backslash.
fn quoted(s: &str) -> String {
    if s.contains([' ', '"', '\\', '\'']) {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        s.to_string()
    }
}
