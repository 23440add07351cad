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
    match verb {
        "jlist" | "prettylist" => run(&["status", "--json"]),
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
