//! Every released on-disk and on-wire format stays readable: fixtures of state.json, spec.json
//! and dump.toml as version 1 wrote them are restored by the current binary, and a keeper
//! answers a client of another protocol version with a clear error, not a guess.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use common::*;

fn fixture_file(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/formats")
        .join(name)
}

#[test]
fn version_1_state_and_spec_files_are_read_by_status_and_describe() {
    let t = TempHome::new();
    let dir = t.home().join("apps/a");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::copy(fixture_file("spec-v1.json"), dir.join("spec.json")).expect("spec");
    std::fs::copy(fixture_file("state-v1.json"), dir.join("state.json")).expect("state");
    // The v1 state says online, but no keeper holds the app: it is reported lost.
    let app = t.app("a");
    assert_eq!(app["status"], "lost");
    let out = t.ok(&["describe", "a", "--json"]);
    let d: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(d[0]["script"], "/bin/sleep");
    assert_eq!(d[0]["env"]["EMAIL_SERVER_PASSWORD"], "<redacted>");
    t.finish();
}

#[test]
fn a_version_1_dump_is_resurrected() {
    let t = TempHome::new();
    std::fs::create_dir_all(t.home()).expect("home");
    let text = std::fs::read_to_string(fixture_file("dump-v1.toml")).expect("dump");
    // Point the fixture's paths at this test's directory, and its env file at one that exists.
    let text = text.replace("/srv/testplanit", &t.path().display().to_string());
    t.write(".env", "EMAIL_SERVER_PASSWORD=x\n");
    t.write("ecosystem.toml", "");
    std::fs::write(t.home().join("dump.toml"), text).expect("write dump");
    let out = t.run(&["resurrect"]);
    assert!(
        out.status.success(),
        "{}{}",
        text_of(&out.stdout),
        text_of(&out.stderr)
    );
    assert_eq!(t.app("a")["status"], "online");
    t.finish();
}

fn text_of(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_keeper_answers_another_protocol_version_with_how_to_fix_it() {
    let t = TempHome::new();
    t.write(
        "ecosystem.toml",
        "[[apps]]\nname = \"a\"\nscript = \"/bin/sleep\"\nargs = \"1000\"\n",
    );
    t.ok(&["start"]);
    let mut s = UnixStream::connect(t.home().join("apps/a/control.sock")).expect("connect");
    let body = br#"{"v":2,"op":"status"}"#;
    s.write_all(&(body.len() as u32).to_be_bytes())
        .expect("len");
    s.write_all(body).expect("body");
    let mut len = [0u8; 4];
    s.read_exact(&mut len).expect("answer");
    let mut answer = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut answer).expect("answer body");
    let v: serde_json::Value = serde_json::from_slice(&answer).expect("json");
    assert_eq!(v["kind"], "error");
    let message = v["message"].as_str().unwrap_or("");
    assert!(
        message.contains("protocol v1") && message.contains("v2") && message.contains("tpctl kill"),
        "{message}"
    );
    assert_eq!(t.app("a")["status"], "online", "the keeper keeps working");
    t.finish();
}
