//! PM2 verbs that tpctl spells differently: translated to the tpctl command that does the same,
//! or answered in one line with the tpctl way, instead of clap's "unrecognized subcommand".

use std::ffi::OsString;

/// What to do with a PM2 verb.
#[derive(Debug, PartialEq, Eq)]
pub enum Pm2Verb {
    /// Run these arguments instead (the program name first).
    Run(Vec<OsString>),
    /// Not a tpctl verb: say this, exit 2.
    Answer(String),
}

/// Translates `args` (as from `args_os`, the program first) when its verb is one of PM2's.
pub fn translate(args: &[OsString]) -> Option<Pm2Verb> {
    let verb = args.get(1)?.to_str()?;
    let rest: Vec<String> = args[2..]
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let arg = |i: usize, what: &str| rest.get(i).cloned().unwrap_or_else(|| what.to_string());
    let run = |new: &[&str]| {
        let mut out = vec![args[0].clone()];
        out.extend(new.iter().map(OsString::from));
        out.extend(args[2..].iter().cloned());
        Some(Pm2Verb::Run(out))
    };
    // PM2's flags of the lifecycle verbs that tpctl answers differently.
    if matches!(
        verb,
        "start" | "restart" | "reload" | "startOrRestart" | "startOrReload"
    ) {
        for flag in &rest {
            let answer = match flag.split('=').next().unwrap_or("") {
                "--watch" | "--ignore-watch" | "--watch-delay" => Some(
                    "tpctl does not watch files: restart after a deploy (`tpctl restart NAME`, or `tpctl start-or-reload ecosystem.toml` in the deploy script)",
                ),
                "--env" => Some(
                    "tpctl has one environment per app, from its files: an env file per deployment (`env_file = \".env.production\"`), or `--update-env` to take this shell's",
                ),
                "--attach" => Some(
                    "tpctl does not attach: `tpctl logs NAME` follows an app's output, `tpctl run` runs the apps in the foreground",
                ),
                _ => None,
            };
            if let Some(a) = answer {
                return Some(Pm2Verb::Answer(a.into()));
            }
        }
    }
    match verb {
        "jlist" | "prettylist" => run(&["status", "--json"]),
        "reset" => Some(Pm2Verb::Answer(
            "tpctl counts restarts from the last start by an operator: `tpctl restart NAME` starts the count afresh (the ledger in `tpctl describe NAME` keeps the history)".into(),
        )),
        "install" | "module:install" if arg(0, "").contains("logrotate") => Some(Pm2Verb::Answer(
            "tpctl rotates logs itself, losing no line: log_max_size (10M), log_keep (5) and log_compress in ecosystem.toml (`man 5 tpctl-ecosystem`)".into(),
        )),
        "install" | "module:install" => Some(Pm2Verb::Answer(
            "tpctl has no modules: log rotation, alerts ([alerts] in ecosystem.toml) and the dashboard (`tpctl monit`) are built in".into(),
        )),
        "deploy" => Some(Pm2Verb::Answer(
            "tpctl has no deploy: run your deploy steps (git pull, build), then `tpctl start-or-reload ecosystem.toml`".into(),
        )),
        "plus" | "link" | "unlink" => Some(Pm2Verb::Answer(
            "tpctl needs no SaaS: `tpctl monit` shows processes beside their queues, [alerts] in ecosystem.toml tells a person what needs them".into(),
        )),
        "env" => run(&["describe"]),
        "ping" => Some(Pm2Verb::Answer(
            "tpctl has no daemon to ping: each app has a keeper of its own, and `tpctl status` asks them all".into(),
        )),
        "scale" => Some(Pm2Verb::Answer(format!(
            "tpctl scales in the file: set `instances = {}` for {} in ecosystem.toml, then `tpctl reload {}`",
            arg(1, "N"),
            arg(0, "NAME"),
            arg(0, "NAME")
        ))),
        "sendSignal" | "sendsignal" => Some(Pm2Verb::Answer(format!(
            "tpctl has no sendSignal: send it to the pid `tpctl status` shows, `kill -s {} PID` (the app's process group: `kill -s {} -- -PID`)",
            arg(0, "SIG").trim_start_matches("SIG"),
            arg(0, "SIG").trim_start_matches("SIG"),
        ))),
        "update" | "updatePM2" => Some(Pm2Verb::Answer(
            "tpctl has no daemon to update: install the new binary; `tpctl restart all` moves the apps to it".into(),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn listing_verbs_become_status_json() {
        assert_eq!(
            translate(&args(&["tpctl", "jlist"])),
            Some(Pm2Verb::Run(args(&["tpctl", "status", "--json"])))
        );
        assert_eq!(
            translate(&args(&["tpctl", "env", "3"])),
            Some(Pm2Verb::Run(args(&["tpctl", "describe", "3"])))
        );
        assert_eq!(translate(&args(&["tpctl", "status"])), None);
    }

    #[test]
    fn pm2_flags_and_module_verbs_get_the_tpctl_way() {
        let answer = |a: &[&str]| match translate(&args(a)) {
            Some(Pm2Verb::Answer(text)) => text,
            other => panic!("{a:?}: {other:?}"),
        };
        assert!(
            answer(&["tpctl", "start", "ecosystem.toml", "--env", "production"])
                .contains("env file")
        );
        assert!(answer(&["tpctl", "start", "app", "--watch"]).contains("does not watch"));
        assert!(answer(&["tpctl", "restart", "app", "--attach"]).contains("tpctl logs NAME"));
        assert!(answer(&["tpctl", "install", "pm2-logrotate"]).contains("log_max_size"));
        assert!(answer(&["tpctl", "reset", "all"]).contains("restart"));
        assert!(answer(&["tpctl", "deploy", "production"]).contains("start-or-reload"));
        assert!(answer(&["tpctl", "plus"]).contains("monit"));
        // tpctl's own --env (import's) and --update-env pass through.
        assert_eq!(
            translate(&args(&["tpctl", "import", "pm2", "x.js", "--env", "A=1"])),
            None
        );
        assert_eq!(
            translate(&args(&["tpctl", "restart", "all", "--update-env"])),
            None
        );
    }

    #[test]
    fn verbs_without_an_equivalent_answer_with_the_tpctl_way() {
        let Some(Pm2Verb::Answer(a)) = translate(&args(&["tpctl", "scale", "web", "4"])) else {
            panic!("no answer");
        };
        assert!(a.contains("`instances = 4` for web"), "{a}");
        let Some(Pm2Verb::Answer(a)) = translate(&args(&["tpctl", "sendSignal", "SIGUSR2", "web"]))
        else {
            panic!("no answer");
        };
        assert!(a.contains("kill -s USR2 PID"), "{a}");
    }
}
