//! Log capture, rotation, `tpctl logs`, `flush` and failing disks, against real processes.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::*;

const LONG: Duration = Duration::from_secs(60);

fn spammer(t: &TempHome, name: &str, extra: &str, env: &str) {
    let text = format!(
        "[[apps]]\nname = \"{name}\"\nscript = \"{}\"\nenv = {{ {env} }}\n{extra}\n",
        fixture("spammer.py")
    );
    t.write(&format!("{name}.toml"), &text);
}

/// Every line of `out.log` and its rotated copies, oldest first.
fn all_lines(t: &TempHome, app: &str, stream: &str) -> Vec<String> {
    let dir = t.home().join(format!("apps/{app}/logs"));
    let mut files: Vec<(u32, std::path::PathBuf)> = std::fs::read_dir(&dir)
        .expect("logs dir")
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let rest = name.strip_prefix(&format!("{stream}.log"))?;
            let n = if rest.is_empty() {
                0
            } else {
                rest.strip_prefix('.')?.parse().ok()?
            };
            Some((n, e.path()))
        })
        .collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    files.iter().flat_map(|(_, p)| lines(p)).collect()
}

fn numbers(lines: &[String]) -> Vec<u64> {
    lines
        .iter()
        .map(|l| {
            l.split(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("not a numbered line: {l:.80}"))
        })
        .collect()
}

#[test]
fn a_spammer_loses_no_line_across_rotation_and_keeps_order() {
    let t = TempHome::new();
    spammer(
        &t,
        "spam",
        "autorestart = false\nlog_max_size = \"1M\"\nlog_keep = 100",
        "LINES = \"200000\", STDERR = \"1\"",
    );
    t.ok(&["start", "spam.toml"]);
    wait_for("spammer completed", LONG, || {
        t.app("spam")["status"] == "completed"
    });
    let out = numbers(&all_lines(&t, "spam", "out"));
    let err = numbers(&all_lines(&t, "spam", "err"));
    assert_eq!(
        out,
        (0..200_000).step_by(2).collect::<Vec<u64>>(),
        "stdout lines lost, duplicated or out of order"
    );
    assert_eq!(
        err,
        (1..200_000).step_by(2).collect::<Vec<u64>>(),
        "stderr lines lost, duplicated or out of order"
    );
    assert_eq!(t.app("spam")["dropped_log_bytes"], 0);
    t.finish();
}

#[test]
fn partial_long_and_invalid_utf8_lines_are_written_whole_and_as_they_are() {
    let t = TempHome::new();
    t.write(
        "e.toml",
        &format!(
            "[[apps]]\nname = \"odd\"\nscript = \"{}\"\nautorestart = false\n",
            fixture("odd_output.sh")
        ),
    );
    t.ok(&["start", "e.toml"]);
    wait_for("completed", LONG, || t.app("odd")["status"] == "completed");
    let bytes = std::fs::read(t.home().join("apps/odd/logs/out.log")).expect("out.log");
    let lines: Vec<&[u8]> = bytes
        .strip_suffix(b"\n")
        .expect("ends in newline")
        .split(|b| *b == b'\n')
        .collect();
    assert_eq!(lines[0], b"partial");
    // 100 KiB: one 64 KiB piece marked as continued, then the rest.
    assert_eq!(lines[1].len(), 65536 + " [tpctl: line continues]".len());
    assert!(lines[1].ends_with(b" [tpctl: line continues]"));
    assert_eq!(lines[2], vec![b'y'; 102400 - 65536].as_slice());
    assert_eq!(lines[3], b"bad \xff\xfe bytes");
    assert_eq!(lines[4], b"no newline at the end");
    assert_eq!(lines.len(), 5);
    t.finish();
}

#[test]
fn timestamps_follow_log_date_format() {
    let t = TempHome::new();
    spammer(
        &t,
        "stamped",
        "autorestart = false\ntime = true\nlog_date_format = \"YYYY-MM-DD HH:mm:ss Z\"",
        "LINES = \"3\", PAD = \"p\"",
    );
    t.ok(&["start", "stamped.toml"]);
    wait_for("completed", LONG, || {
        t.app("stamped")["status"] == "completed"
    });
    let got = lines(&t.home().join("apps/stamped/logs/out.log"));
    assert_eq!(got.len(), 3);
    for (i, l) in got.iter().enumerate() {
        // 2026-11-28 12:34:56 +00:00 0 p
        let (stamp, rest) = l.split_at(27);
        let b = stamp.as_bytes();
        assert!(
            b[4] == b'-'
                && b[7] == b'-'
                && b[10] == b' '
                && b[13] == b':'
                && b[16] == b':'
                && stamp.ends_with(" +00:00 "),
            "{l}"
        );
        assert_eq!(rest, format!("{i} p"));
    }
    t.finish();
}

#[test]
fn rotation_keeps_files_under_the_size_and_only_n_of_them() {
    let t = TempHome::new();
    spammer(
        &t,
        "rot",
        "autorestart = false\nlog_max_size = \"100K\"\nlog_keep = 3",
        "LINES = \"20000\"",
    );
    t.ok(&["start", "rot.toml"]);
    wait_for("completed", LONG, || t.app("rot")["status"] == "completed");
    let dir = t.home().join("apps/rot/logs");
    for name in ["out.log", "out.log.1", "out.log.2", "out.log.3"] {
        let size = std::fs::metadata(dir.join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .len();
        assert!(size <= 100 * 1024, "{name} is {size} bytes");
    }
    assert!(!dir.join("out.log.4").exists());
    // What is kept is the newest output, contiguous and ending with the last line.
    let kept = numbers(&all_lines(&t, "rot", "out"));
    assert_eq!(kept.last(), Some(&19_999));
    assert!(kept.windows(2).all(|w| w[1] == w[0] + 1));
    t.finish();
}

/// `tpctl logs ... --json` as a child, its lines delivered through a channel.
fn follow(t: &TempHome, args: &[&str]) -> (Child, mpsc::Receiver<serde_json::Value>) {
    let mut child = t.cmd(args).stdout(Stdio::piped()).spawn().expect("logs -f");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str(&line)
                && tx.send(v).is_err()
            {
                return;
            }
        }
    });
    (child, rx)
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn follow_survives_rotation_and_restarts_and_finds_new_apps() {
    let t = TempHome::new();
    // 30 lines per run, one every 5 ms, files rotated every ~2 KiB, then exit 1 and restart.
    spammer(
        &t,
        "ticker",
        "min_uptime = \"10ms\"\nlog_max_size = \"2K\"\nlog_keep = 2",
        "LINES = \"30\", DELAY_MS = \"5\", PAD = \"t\", EXIT_CODE = \"1\"",
    );
    t.ok(&["start", "ticker.toml"]);
    let (child, rx) = follow(&t, &["logs", "-f", "--json", "--lines", "0"]);
    let mut seen: Vec<(String, u64)> = Vec::new();
    let mut newcomer_started = false;
    let mut restarts_told = 0;
    let deadline = std::time::Instant::now() + LONG;
    while std::time::Instant::now() < deadline {
        let Ok(v) = rx.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        let app = v["app"].as_str().unwrap_or("").to_string();
        // Each restart is told in the stream too.
        if v["line"]
            .as_str()
            .is_some_and(|l| l.starts_with("[tpctl] restarted: exit code 1"))
        {
            restarts_told += 1;
            continue;
        }
        let n: u64 = v["line"]
            .as_str()
            .and_then(|l| l.split(' ').next())
            .and_then(|n| n.parse().ok())
            .expect("numbered line");
        seen.push((app, n));
        let ticker: Vec<u64> = seen
            .iter()
            .filter(|(a, _)| a == "ticker")
            .map(|(_, n)| *n)
            .collect();
        if !newcomer_started && ticker.len() >= 5 {
            spammer(
                &t,
                "newcomer",
                "autorestart = false",
                "LINES = \"3\", START = \"500\"",
            );
            t.ok(&["start", "newcomer.toml"]);
            newcomer_started = true;
        }
        if seen.iter().filter(|(a, _)| a == "newcomer").count() == 3 && ticker.len() >= 100 {
            break;
        }
    }
    stop(child);
    assert!(restarts_told >= 2, "restarts not marked in the stream");
    let ticker: Vec<u64> = seen
        .iter()
        .filter(|(a, _)| a == "ticker")
        .map(|(_, n)| *n)
        .collect();
    assert!(
        ticker.len() >= 100,
        "followed only {} ticker lines",
        ticker.len()
    );
    // Across rotations and restarts, each run's lines arrive whole and in order: 0..29 repeating.
    for w in ticker.windows(2) {
        assert!(
            w[1] == w[0] + 1 || (w[0] == 29 && w[1] == 0),
            "gap or repeat: {ticker:?}"
        );
    }
    assert!(t.app("ticker")["restarts"].as_u64().unwrap_or(0) >= 3);
    let newcomer: Vec<u64> = seen
        .iter()
        .filter(|(a, _)| a == "newcomer")
        .map(|(_, n)| *n)
        .collect();
    assert_eq!(newcomer, vec![500, 501, 502]);
    t.finish();
}

#[test]
fn logs_prints_recent_lines_prefixed_by_app_and_stream() {
    let t = TempHome::new();
    spammer(
        &t,
        "both",
        "autorestart = false",
        "LINES = \"40\", PAD = \"z\", STDERR = \"1\"",
    );
    t.ok(&["start", "both.toml"]);
    wait_for("completed", LONG, || t.app("both")["status"] == "completed");
    let out = t.ok(&["logs", "both", "--nostream", "--lines", "2"]);
    assert_eq!(out, "both | 36 z\nboth | 38 z\nboth ! 37 z\nboth ! 39 z\n");
    let out = t.ok(&["logs", "both", "--nostream", "--err"]);
    assert_eq!(out.lines().count(), 15);
    assert!(out.lines().all(|l| l.starts_with("both ! ")));
    t.finish();
}

#[test]
fn flush_empties_logs_while_the_app_keeps_writing() {
    let t = TempHome::new();
    spammer(
        &t,
        "steady",
        "",
        "LINES = \"100000\", DELAY_MS = \"1\", PAD = \"s\"",
    );
    t.ok(&["start", "steady.toml"]);
    let log = t.home().join("apps/steady/logs/out.log");
    wait_for("some output", LONG, || lines(&log).len() > 50);
    let pid = t.app("steady")["pid"].clone();
    t.ok(&["flush", "steady"]);
    wait_for("new output after the flush", LONG, || lines(&log).len() > 5);
    let bytes = std::fs::read(&log).expect("read");
    assert!(!bytes.contains(&0), "flush left a hole of NUL bytes");
    let after = numbers(&lines(&log));
    assert!(
        after.windows(2).all(|w| w[1] == w[0] + 1),
        "lines after the flush are whole and in order"
    );
    assert!(after[0] > 50, "the file was emptied");
    assert_eq!(t.app("steady")["pid"], pid, "the app kept running");
    t.finish();
}

#[test]
fn a_failing_log_write_never_blocks_the_app_and_is_counted_then_marked() {
    let t = TempHome::new();
    spammer(&t, "big", "", "LINES = \"2000\", LINGER = \"1\"");
    // The keeper (and its app) may write files of at most 64 KiB: the log write fails past that.
    let mut start = t.cmd(&["start", "big.toml"]);
    unsafe {
        start.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 64 * 1024,
                rlim_max: 64 * 1024,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    assert!(start.output().expect("start").status.success());
    // 2000 lines of ~100 bytes do not fit: some are dropped, and the app is still online.
    wait_for("dropped bytes counted", LONG, || {
        t.app("big")["dropped_log_bytes"].as_u64().unwrap_or(0) > 0
    });
    assert_eq!(t.app("big")["status"], "online");
    // Writing works again after a flush; the next output is preceded by the marker.
    t.ok(&["flush", "big"]);
    let log = t.home().join("apps/big/logs/out.log");
    t.ok(&["restart", "big"]);
    wait_for("marker line", LONG, || {
        lines(&log)
            .iter()
            .any(|l| l.starts_with("[tpctl] ") && l.contains("bytes of output were dropped"))
    });
    let described = t.ok(&["describe", "big"]);
    assert!(described.contains("dropped log bytes"), "{described}");
    t.finish();
}

#[test]
fn stdout_and_stderr_are_told_in_the_order_they_arrived_with_when() {
    let t = TempHome::new();
    let script = t.write(
        "chatty.sh",
        "#!/bin/sh\nfor i in 1 2 3 4; do echo \"out $i\"; sleep 0.02; echo \"err $i\" >&2; sleep 0.02; done\necho done > \"$DONE\"\nexec sleep 600\n",
    );
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let done = t.path().join("done");
    t.write(
        "ecosystem.toml",
        &format!(
            "[[apps]]\nname = \"chatty\"\nscript = \"{}\"\nenv = {{ DONE = \"{}\" }}\n\n\
             [[apps]]\nname = \"stamped\"\nscript = \"/bin/echo\"\nargs = [\"hello\"]\nautorestart = false\ntime = true\n",
            script.display(),
            done.display()
        ),
    );
    t.ok(&["start"]);
    wait_for("the chatty app to finish talking", LONG, || done.exists());
    let out = t.ok(&["logs", "chatty", "--nostream", "--lines", "20"]);
    let told: Vec<&str> = out
        .lines()
        .map(|l| l.split_once(' ').map_or(l, |(_, r)| r))
        .collect();
    let told: Vec<String> = told
        .iter()
        .map(|l| l.trim_start_matches(['|', '!', ' ']).to_string())
        .collect();
    assert_eq!(
        told,
        [
            "out 1", "err 1", "out 2", "err 2", "out 3", "err 3", "out 4", "err 4"
        ],
        "{out}"
    );
    // --json carries the time each line arrived (stored by the keeper), in order.
    let json = t.ok(&["logs", "chatty", "--nostream", "--lines", "20", "--json"]);
    let times: Vec<String> = json
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("json")["time"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(times.len(), 8, "{json}");
    assert!(
        times.iter().all(|t| t.len() == 24 && t.ends_with('Z')),
        "{times:?}"
    );
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    // A line the keeper stamped (time = true) is not stamped a second time.
    wait_for("the stamped line", LONG, || {
        t.app("stamped")["status"] == "completed"
    });
    let stamped = t.ok(&["logs", "stamped", "--nostream", "--timestamp"]);
    let line = stamped
        .lines()
        .find(|l| l.contains("hello"))
        .unwrap_or_default();
    assert_eq!(line.matches("Z ").count(), 1, "stamped twice: {line}");
    t.finish();
}
