//! The systemd unit: one service that resurrects the saved list at boot and stops every app
//! gracefully when stopped (see README, "Boot").

use super::Params;

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
