//! The launchd property list: runs `tpctl resurrect` at load (boot or login).

use super::Params;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Renders `dev.tpctl.plist`; `agent` for a per-user LaunchAgent (no `UserName`).
pub fn plist(p: &Params, agent: bool) -> String {
    let user = if agent {
        String::new()
    } else {
        format!(
            "    <key>UserName</key>\n    <string>{}</string>\n",
            escape(&p.user)
        )
    };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by `tpctl startup launchd`; `tpctl unstartup launchd` removes it. -->
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
    <key>Label</key>
    <string>dev.tpctl</string>
{user}    <key>ProgramArguments</key>
    <array>
        <string>{exe}</string>
        <string>resurrect</string>
    </array>
    <key>EnvironmentVariables</key>
    <dict>
        <key>HOME</key>
        <string>{home}</string>
        <key>PATH</key>
        <string>{path}</string>
        <key>TPCTL_HOME</key>
        <string>{tpctl_home}</string>
    </dict>
    <key>RunAtLoad</key>
    <true/>
    <key>StandardErrorPath</key>
    <string>{tpctl_home}/startup.log</string>
</dict>
</plist>
"#,
        exe = escape(&p.exe.display().to_string()),
        home = escape(&p.home.display().to_string()),
        path = escape(&p.path),
        tpctl_home = escape(&p.tpctl_home.display().to_string()),
    )
}
