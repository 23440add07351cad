//! A full disk under TPCTL_HOME (a small tmpfs, filled up): the apps keep running, the keeper
//! counts the output it could not write, writing resumes by itself when space returns with one
//! line saying how much was lost, `save` fails naming the file and leaves the previous dump
//! intact, and no state file is ever truncated. Mounting needs root (as in CI).

mod common;

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use common::*;

/// A tmpfs mounted over a directory, unmounted on drop.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &std::path::Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).expect("mount point");
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes zeros into `path` until the file system is full.
fn fill(path: &std::path::Path) {
    let mut f = std::fs::File::create(path).expect("filler");
    let block = vec![0u8; 64 * 1024];
    loop {
        match f.write(&block) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let small = [0u8; 512];
    while f.write(&small).is_ok_and(|n| n > 0) {}
    let _ = f.sync_all();
}

#[test]
fn a_full_disk_loses_only_log_output_and_says_how_much() {
    if unsafe { libc::geteuid() } != 0 {
        panic!("this test mounts a tmpfs and needs root (CI runs as root)");
    }
    let t = TempHome::new();
    let Some(_mount) = Tmpfs::mount(&t.home(), "4m") else {
        panic!("cannot mount a tmpfs on {}", t.home().display());
    };
    t.write(
        "ecosystem.toml",
        "[[apps]]\nname = \"talker\"\nscript = \"/bin/sh\"\nargs = [\"-c\", \"i=0; while :; do i=$((i+1)); echo line $i; sleep 0.01; done\"]\n",
    );
    t.ok(&["start"]);
    let log = t.home().join("apps/talker/logs/out.log");
    wait_for("output in the log", Duration::from_secs(30), || {
        lines(&log).len() > 10
    });
    t.ok(&["save"]);
    let dump_before = std::fs::read_to_string(t.home().join("dump.toml")).expect("dump");
    let env_before = std::fs::read(t.home().join("dump-env.toml")).expect("dump-env");
    let pid = t.app("talker")["pid"].clone();

    let filler = t.home().join("filler");
    fill(&filler);
    wait_for("output to be dropped", Duration::from_secs(30), || {
        t.app("talker")["dropped_log_bytes"].as_u64() > Some(100)
    });
    let app = t.app("talker");
    assert_eq!(app["status"], "online", "{app}");
    assert_eq!(app["pid"], pid, "the app kept running: {app}");

    // save cannot write: it says so, and the previous dump is untouched.
    let out = t.run(&["save"]);
    assert!(!out.status.success(), "save on a full disk succeeded");
    let err = text(&out.stderr);
    assert!(
        err.contains("dump-env.toml") && err.contains("No space left"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(t.home().join("dump.toml")).expect("dump"),
        dump_before
    );
    assert_eq!(
        std::fs::read(t.home().join("dump-env.toml")).expect("dump-env"),
        env_before
    );
    // No state file is truncated or left half-written.
    let state = std::fs::read_to_string(t.home().join("apps/talker/state.json")).expect("state");
    serde_json::from_str::<serde_json::Value>(&state).expect("state.json parses");

    // Space returns: writing resumes by itself, after one line saying what was lost.
    std::fs::remove_file(&filler).expect("free the space");
    let freed = std::time::Instant::now();
    let marker =
        |l: &String| l.starts_with("[tpctl] ") && l.contains("bytes of output were dropped");
    wait_for(
        "the marker line and output after it",
        Duration::from_secs(30),
        || {
            let l = lines(&log);
            l.iter().position(marker).is_some_and(|i| l.len() > i + 5)
        },
    );
    eprintln!(
        "recovery: {:.2} s (writing resumed after space returned)",
        freed.elapsed().as_secs_f64()
    );
    let l = lines(&log);
    assert_eq!(l.iter().filter(|x| marker(x)).count(), 1, "one marker line");
    let lost: u64 = l
        .iter()
        .find(|x| marker(x))
        .and_then(|m| m.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .expect("the marker says how many bytes");
    assert!(lost > 0);
    // Every line is whole, but for one the disk cut short, which the marker line follows.
    let whole = |x: &String| {
        x.strip_prefix("line ")
            .is_some_and(|n| n.parse::<u64>().is_ok())
    };
    for (i, x) in l.iter().enumerate() {
        assert!(
            marker(x) || whole(x) || l.get(i + 1).is_some_and(marker),
            "a cut line not followed by the marker: {x:?}"
        );
    }
    assert_eq!(t.app("talker")["pid"], pid);
    t.ok(&["save"]);
    t.finish();
}
