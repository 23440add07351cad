//! What an app runs: its program and, when the program is an interpreter (node, python, sh,
//! ...), the script file it is given, so that a missing `dist/workers/x.js` is found before
//! the start, as a missing program is.

use std::path::PathBuf;

use crate::spec::AppSpec;

/// Interpreters whose first non-option argument is the script they run.
const INTERPRETERS: &[&str] = &[
    "node", "nodejs", "tsx", "ts-node", "bun", "python", "python3", "sh", "bash", "dash", "zsh",
    "ruby", "perl", "php",
];

/// Options after which the interpreter runs code given inline, not a file.
const INLINE: &[&str] = &["-c", "-e", "--eval", "-p", "--print", "-m"];

/// Options of node that take the next argument as their value.
const WITH_VALUE: &[&str] = &["-r", "--require", "--import", "--loader"];

/// The script file an interpreter app runs (absolute, against its cwd), or `None` when the
/// program is not an interpreter, or runs inline code or a module.
pub fn script_file(spec: &AppSpec) -> Option<PathBuf> {
    let program = spec.script.file_name()?.to_str()?;
    let base = program.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    if !INTERPRETERS.contains(&program) && !INTERPRETERS.contains(&base) {
        return None;
    }
    let mut args = spec.args.iter();
    while let Some(arg) = args.next() {
        if INLINE.contains(&arg.as_str()) {
            return None;
        }
        if WITH_VALUE.contains(&arg.as_str()) {
            args.next();
            continue;
        }
        if arg.starts_with('-') {
            continue;
        }
        // `bun run x`, `deno run x`: a subcommand before the file.
        if arg == "run" && matches!(base, "bun") {
            continue;
        }
        let path = PathBuf::from(arg);
        return Some(if path.is_absolute() {
            path
        } else {
            spec.cwd.join(path)
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::path::Path;

    fn spec(script: &str, args: &str) -> AppSpec {
        let text =
            format!("[[apps]]\nname = 'w'\nscript = '{script}'\nargs = {args}\ncwd = '/srv/tp'\n");
        crate::config::parse(Path::new("/srv/tp/e.toml"), &text, &BTreeMap::new())
            .expect("valid")
            .remove(0)
    }

    #[test]
    fn the_file_an_interpreter_runs_is_its_first_plain_argument() {
        assert_eq!(
            script_file(&spec(
                "/usr/bin/node",
                "['--max-old-space-size=384', 'dist/workers/emailWorker.js']"
            )),
            Some(PathBuf::from("/srv/tp/dist/workers/emailWorker.js"))
        );
        assert_eq!(
            script_file(&spec("/usr/bin/python3.11", "['-u', '/opt/app.py']")),
            Some(PathBuf::from("/opt/app.py"))
        );
        assert_eq!(
            script_file(&spec("/usr/bin/node", "['-r', 'dotenv/config', 'x.js']")),
            Some(PathBuf::from("/srv/tp/x.js"))
        );
        assert_eq!(
            script_file(&spec("/bin/sh", "['-c', 'exec sleep 1']")),
            None
        );
        assert_eq!(
            script_file(&spec("/usr/bin/python3", "['-m', 'http.server']")),
            None
        );
        assert_eq!(script_file(&spec("/bin/sleep", "['1000']")), None);
    }
}
