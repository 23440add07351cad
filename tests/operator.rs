//! The PM2 operator's first hour: PM2's habits either work or say what to do instead, and no
//! command answers with silence.

mod common;

use common::*;

fn fails_with(t: &TempHome, args: &[&str], code: i32, needle: &str) {
    let out = t.run(args);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "tpctl {args:?}: {err}");
    assert!(err.contains(needle), "tpctl {args:?}:\n{err}");
}

#[test]
fn pm2_files_and_scripts_point_to_their_tpctl_equivalent() {
    let t = TempHome::new();
    fails_with(&t, &["start"], 2, "no ecosystem.toml in ");
    fails_with(&t, &["start"], 2, "`man 5 tpctl-ecosystem`");
    t.write(
        "ecosystem.config.js",
        "module.exports = { apps: [{ name: 'a', script: 'a.js' }] };\n",
    );
    fails_with(
        &t,
        &["start"],
        2,
        "this directory has PM2's ecosystem.config.js: convert it with `tpctl import pm2 ecosystem.config.js`",
    );
    fails_with(
        &t,
        &["start", "ecosystem.config.js"],
        2,
        "ecosystem.config.js is a PM2 ecosystem file; tpctl reads TOML: convert it with `tpctl import pm2 ecosystem.config.js`",
    );
    fails_with(
        &t,
        &["start", "server.js"],
        2,
        "server.js is a script; tpctl starts apps from an ecosystem file",
    );
    fails_with(&t, &["start", "server.js"], 2, "args = [\"server.js\"]");
    assert!(t.status().is_empty());
    t.finish();
}

#[test]
fn nothing_to_show_is_said_not_left_silent() {
    let t = TempHome::new();
    let out = t.run(&["logs", "--nostream"]);
    assert!(out.status.success());
    assert!(
        text(&out.stderr).contains("no apps in ") && text(&out.stderr).contains("tpctl start"),
        "{}",
        text(&out.stderr)
    );
    fails_with(&t, &["resurrect"], 1, "nothing has been saved yet");
    fails_with(&t, &["resurrect"], 1, "run `tpctl save` first");

    // The first save claims no previous save; the second names it. Counts read as English.
    t.write(
        "ecosystem.toml",
        "[[apps]]\nname = \"a\"\nscript = \"/bin/sleep\"\nargs = [\"60\"]\n",
    );
    t.ok(&["start"]);
    let first = t.ok(&["save"]);
    assert!(first.contains("saved 1 app to "), "{first}");
    assert!(first.contains("(the first save here)"), "{first}");
    assert!(!first.contains(".bak"), "{first}");
    let second = t.ok(&["save"]);
    assert!(second.contains("(the previous save is "), "{second}");
    assert!(second.contains("dump.toml.bak"), "{second}");
    t.finish();
}
