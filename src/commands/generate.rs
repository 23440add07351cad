//! `tpctl generate completions SHELL` and `tpctl generate man DIR`: both derived from the clap
//! definitions in cli.rs, and checked in under completions/ and man/ (a test fails when they
//! are stale).
//!
//! Completions are dynamic: the shell script asks `tpctl` itself, so app-name arguments
//! complete to the apps of ./ecosystem.toml and the apps tpctl knows.

use std::ffi::OsStr;
use std::io::Write;
use std::path::Path;

use clap::CommandFactory;
use clap_complete::engine::CompletionCandidate;
use clap_complete::env::EnvCompleter;

use super::{CommandError, Outcome};
use crate::cli::{Cli, Shell};
use crate::config::defaults::ECOSYSTEM_FILE;
use crate::home::Home;

/// The environment variable through which a shell asks tpctl for completions.
pub const COMPLETE_VAR: &str = "COMPLETE";

/// Answers a completion request from a shell, if this process is one (then it exits).
pub fn complete_if_asked() {
    clap_complete::CompleteEnv::with_factory(Cli::command)
        .var(COMPLETE_VAR)
        .complete();
}

/// Candidates for an app-name argument: `all`, the apps of ./ecosystem.toml, the known apps.
pub fn app_names(current: &OsStr) -> Vec<CompletionCandidate> {
    let prefix = current.to_string_lossy();
    let mut names: Vec<String> = vec!["all".into()];
    if let Ok(specs) = crate::config::load(Path::new(ECOSYSTEM_FILE)) {
        for s in specs {
            names.push(s.name.clone());
            if s.instance.is_some() {
                names.push(s.id);
            }
        }
    }
    if let Ok(home) = Home::from_env()
        && let Ok(ids) = home.app_ids()
    {
        names.extend(ids);
    }
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|n| n.starts_with(prefix.as_ref()))
        .map(CompletionCandidate::new)
        .collect()
}

/// Writes the completion script for `shell` to `out`.
pub fn completions(shell: Shell, out: &mut dyn Write) -> std::io::Result<()> {
    use clap_complete::env::{Bash, Elvish, Fish, Powershell, Zsh};
    let registrar: &dyn EnvCompleter = match shell {
        Shell::Bash => &Bash,
        Shell::Zsh => &Zsh,
        Shell::Fish => &Fish,
        Shell::Elvish => &Elvish,
        Shell::Powershell => &Powershell,
        Shell::Nushell => {
            // Nushell has no dynamic registration in clap_complete: a static script.
            let mut cmd = Cli::command();
            clap_complete::generate(clap_complete_nushell::Nushell, &mut cmd, "tpctl", out);
            return Ok(());
        }
    };
    registrar.write_registration(COMPLETE_VAR, "tpctl", "tpctl", "tpctl", out)
}

/// `tpctl generate completions SHELL`.
pub fn print_completions(shell: Shell) -> Result<Outcome, CommandError> {
    completions(shell, &mut std::io::stdout().lock()).map_err(|source| CommandError::Io {
        what: "cannot write completions".into(),
        source,
    })?;
    Ok(Outcome::Success)
}

const EXIT_STATUS: &str = r#".SH "EXIT STATUS"
.TP
\fB0\fR
Success.
.TP
\fB1\fR
An operation failed: an app errored or failed, did not stop, or a file could not be written.
.TP
\fB2\fR
Usage or configuration error: a bad flag, an invalid ecosystem file, an unknown app.
"#;

const ENVIRONMENT: &str = r#".SH ENVIRONMENT
.TP
\fBTPCTL_HOME\fR
The run directory (default \fI~/.tpctl\fR).
.TP
\fBNO_COLOR\fR
When set and not empty, no colour in output.
.TP
\fBTPCTL_LOG\fR
Diagnostics filter for the command line (default \fIwarn\fR).
.TP
\fBVALKEY_URL\fR, \fBDATABASE_URL\fR
Passed to the apps through their environment; read by \fBtpctl doctor\fR.
.TP
\fBBULLMQ_PREFIX\fR
BullMQ's key prefix (default \fIbull\fR) for \fBtpctl queues\fR, \fBqueue\fR, \fBmonit\fR and \fBdoctor\fR.
"#;

const FILES: &str = r#".SH FILES
.TP
\fI./ecosystem.toml\fR
The apps \fBtpctl start\fR reads by default; see \fBtpctl\-ecosystem\fR(5).
.TP
\fI$TPCTL_HOME/apps/<id>/\fR
Per app instance: \fIlock\fR, \fIcontrol.sock\fR, \fIspec.json\fR, \fIstate.json\fR, \fIkeeper.log\fR, \fIlogs/out.log\fR, \fIlogs/err.log\fR.
.TP
\fI$TPCTL_HOME/dump.toml\fR, \fI$TPCTL_HOME/dump.toml.bak\fR
The saved process list (\fBtpctl save\fR, \fBtpctl resurrect\fR).
"#;

/// A page's after-help split into its examples and any other notes, in roff; the top page's
/// exit codes and environment are left out (EXIT STATUS and ENVIRONMENT say them in full).
fn after_help_sections(cmd: &clap::Command) -> String {
    let Some(text) = cmd.get_after_help().map(|h| h.to_string()) else {
        return String::new();
    };
    let esc = |l: &str| l.trim().replace('\\', "\\\\").replace('-', "\\-");
    let mut examples = Vec::new();
    let mut notes = Vec::new();
    for para in text.split("\n\n") {
        let mut lines = para.lines();
        match lines.next() {
            Some(first) if matches!(first.trim_end(), "Examples:" | "Example:") => {
                examples.extend(lines.map(esc))
            }
            Some(first)
                if first.starts_with("Exit codes:") || first.starts_with("Environment:") =>
            {
                // The top page's summary of what EXIT STATUS and ENVIRONMENT say in full.
                for l in para
                    .lines()
                    .filter(|l| !l.starts_with("Exit codes:") && !l.starts_with("Environment:"))
                {
                    notes.push(esc(l));
                }
            }
            Some(_) => notes.push(para.lines().map(esc).collect::<Vec<_>>().join("\n")),
            None => {}
        }
    }
    let mut out = String::new();
    if !examples.is_empty() {
        out.push_str(".SH EXAMPLES\n.nf\n");
        for e in examples {
            out.push_str(&e);
            out.push('\n');
        }
        out.push_str(".fi\n");
    }
    if !notes.is_empty() {
        out.push_str(".SH NOTES\n");
        out.push_str(&notes.join("\n.PP\n"));
        out.push('\n');
    }
    out
}

/// Writes `tpctl.1`, one `tpctl-<command>.1` per command, and `tpctl-ecosystem.5` into `dir`.
pub fn man(dir: &Path) -> std::io::Result<Vec<String>> {
    std::fs::create_dir_all(dir)?;
    let cmd = Cli::command();
    let mut written = Vec::new();
    let mut pages: Vec<(String, clap::Command)> = vec![("tpctl".into(), cmd.clone())];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("tpctl-{}", sub.get_name());
        pages.push((
            name.clone(),
            sub.clone()
                .display_name(name)
                .bin_name(format!("tpctl {}", sub.get_name())),
        ));
    }
    for (name, page) in pages {
        let man = clap_mangen::Man::new(page.clone());
        let mut buf = Vec::new();
        // Every section but clap's EXTRA (the after-help, which the top page would repeat
        // below): examples and notes get sections of their own.
        man.render_title(&mut buf)?;
        man.render_name_section(&mut buf)?;
        man.render_synopsis_section(&mut buf)?;
        man.render_description_section(&mut buf)?;
        man.render_options_section(&mut buf)?;
        if page.has_subcommands() {
            man.render_subcommands_section(&mut buf)?;
        }
        buf.extend_from_slice(after_help_sections(&page).as_bytes());
        buf.extend_from_slice(EXIT_STATUS.as_bytes());
        buf.extend_from_slice(ENVIRONMENT.as_bytes());
        buf.extend_from_slice(FILES.as_bytes());
        if page.get_version().is_some() {
            man.render_version_section(&mut buf)?;
        }
        let file = format!("{name}.1");
        std::fs::write(dir.join(&file), buf)?;
        written.push(file);
    }
    let file = "tpctl-ecosystem.5".to_string();
    std::fs::write(
        dir.join(&file),
        crate::config::keys::man_page(env!("CARGO_PKG_VERSION")),
    )?;
    written.push(file);
    Ok(written)
}

/// `tpctl generate man DIR`.
pub fn write_man(dir: &Path) -> Result<Outcome, CommandError> {
    let files = man(dir).map_err(|source| CommandError::Io {
        what: format!("cannot write man pages to {}", dir.display()),
        source,
    })?;
    println!("wrote {} man pages to {}", files.len(), dir.display());
    Ok(Outcome::Success)
}
