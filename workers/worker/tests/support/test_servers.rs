//! The pinned test servers of tp-worker's tests (search servers, aiosmtpd), installed by
//! `install-test-servers` under the target directory on first use, under a lock since tests
//! run in parallel (`.ci/run` installs them up front).

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// Where the servers are, installed if they are not yet.
pub fn dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("test-servers");
    let ready = dir.join("unpacked/osmem_server/bin/osmem-server").exists()
        && dir.join("unpacked/noida_db/noida-db").exists()
        && dir.join("python/aiosmtpd/__init__.py").exists();
    if ready {
        return dir;
    }
    std::fs::create_dir_all(&dir).expect("tools directory");
    let lock = std::fs::File::create(dir.join(".lock")).expect("lock file");
    // SAFETY: flock on a file we hold open; released when it is closed.
    unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/support/install-test-servers"
    );
    let status = Command::new("bash")
        .arg(script)
        .arg(&dir)
        .status()
        .expect("bash");
    assert!(
        status.success(),
        "could not install the test servers: run {script} (needs python3 -m pip and the PyPI registry)"
    );
    dir
}

/// PYTHONPATH for the Python test servers (aiosmtpd and its dependencies).
pub fn python_path() -> PathBuf {
    dir().join("python")
}
