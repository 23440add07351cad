//! The OpenRC service script: `start` resurrects, `stop` stops every app gracefully.

use super::Params;

/// Renders `/etc/init.d/tpctl`.
pub fn script(p: &Params) -> String {
    format!(
        r#"#!/sbin/openrc-run
# Written by `tpctl startup openrc`; `tpctl unstartup openrc` removes it.
description="tpctl: TestPlanIt background workers ({user})"

depend() {{
    need net
    after postgresql redis valkey
}}

run_tpctl() {{
    su {user} -s /bin/sh -c "HOME='{home}' PATH='{path}' TPCTL_HOME='{tpctl_home}' '{exe}' $1"
}}

start() {{
    ebegin "Resurrecting tpctl apps"
    run_tpctl resurrect
    eend $?
}}

stop() {{
    ebegin "Stopping tpctl apps"
    run_tpctl kill
    eend $?
}}
"#,
        user = p.user,
        home = p.home.display(),
        path = p.path,
        tpctl_home = p.tpctl_home.display(),
        exe = p.exe.display(),
    )
}
