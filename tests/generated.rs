//! The checked-in completions and man pages are what the binary generates now; app names
//! complete from ./ecosystem.toml.

mod common;

use common::*;

const SHELLS: [(&str, &str); 6] = [
    ("bash", "bash"),
    ("zsh", "zsh"),
    ("fish", "fish"),
    ("elvish", "elv"),
    ("powershell", "ps1"),
    ("nushell", "nu"),
];

#[test]
fn checked_in_completions_are_fresh() {
    let t = TempHome::new();
    for (shell, ext) in SHELLS {
        let generated = t.ok(&["generate", "completions", shell]);
        let path = format!("{}/completions/tpctl.{ext}", env!("CARGO_MANIFEST_DIR"));
        let checked_in = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(
            generated == checked_in,
            "{path} is stale: run `tpctl generate completions {shell} > {path}`"
        );
    }
}

#[test]
fn checked_in_man_pages_are_fresh() {
    let t = TempHome::new();
    let dir = t.path().join("man");
    t.ok(&["generate", "man", dir.to_str().expect("utf-8")]);
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("generated")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut checked: Vec<String> = std::fs::read_dir(&repo)
        .expect("man/")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    checked.sort();
    assert_eq!(
        names, checked,
        "man/ has other pages than `tpctl generate man` writes"
    );
    for n in &names {
        let a = std::fs::read(dir.join(n)).expect("generated page");
        let b = std::fs::read(repo.join(n)).expect("checked-in page");
        assert!(a == b, "man/{n} is stale: run `tpctl generate man man`");
    }
    let top = std::fs::read_to_string(repo.join("tpctl.1")).expect("tpctl.1");
    assert!(top.contains("EXIT STATUS") && top.contains("TPCTL_HOME") && top.contains("dump.toml"));
}

#[test]
fn app_names_complete_from_the_ecosystem_file_and_known_apps() {
    let t = TempHome::new();
    t.write("ecosystem.toml", "[[apps]]\nname = \"email-worker\"\nscript = \"/bin/true\"\n\n[[apps]]\nname = \"forecast-worker\"\nscript = \"/bin/true\"\n");
    let out = t
        .cmd(&["--", "tpctl", "restart", "em"])
        .env("COMPLETE", "bash")
        .env("_CLAP_COMPLETE_INDEX", "2")
        .env("_CLAP_COMPLETE_COMP_TYPE", "9")
        .env("_CLAP_COMPLETE_SPACE", "true")
        .env("_CLAP_IFS", "\n")
        .output()
        .expect("complete");
    assert_eq!(text(&out.stdout).trim(), "email-worker");
}

#[test]
fn the_man_pages_say_each_thing_once_and_describe_the_file() {
    let t = TempHome::new();
    let dir = t.path().join("man");
    t.ok(&["generate", "man", dir.to_str().expect("utf-8")]);
    let top = std::fs::read_to_string(dir.join("tpctl.1")).expect("tpctl.1");
    assert!(!top.contains(".SH EXTRA"), "{top}");
    assert!(!top.contains("Exit codes:"), "EXIT STATUS says it: {top}");
    assert_eq!(top.matches(".SH \"EXIT STATUS\"").count(), 1);
    assert!(top.contains(".SH EXAMPLES"), "{top}");
    let file = std::fs::read_to_string(dir.join("tpctl-ecosystem.5")).expect("ecosystem(5)");
    assert!(file.starts_with(".TH tpctl-ecosystem 5 "), "{file}");
    for key in [
        "max_memory_restart",
        "kill_timeout",
        "after",
        "log_keep",
        "env_file",
    ] {
        assert!(
            file.contains(&format!("\\fB{key}\\fR")),
            "{key} missing: {file}"
        );
    }
    // The roff is well formed enough for man(1) to render it.
    if let Ok(out) = std::process::Command::new("man")
        .args(["-l", "-P", "cat"])
        .arg(dir.join("tpctl-ecosystem.5"))
        .env("MANWIDTH", "80")
        .output()
        && out.status.success()
    {
        let shown = text(&out.stdout);
        assert!(
            shown.contains("max_memory_restart (default: none)"),
            "{shown}"
        );
    }
    t.finish();
}
