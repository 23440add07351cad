//! What is left of an app whose keeper died: the processes of the app's session that still
//! carry its id. Both the client (finding a lost keeper) and a new keeper (taking over the app)
//! clean them up, so a killed keeper never leaves an orphan behind.

/// SIGKILLs every process in session `sid` that carries this app's id in its environment (the
/// check guards against a recycled session id). Returns how many were killed.
pub fn kill_session(sid: i32, app_id: &str) -> usize {
    let marker = format!("TPCTL_APP_ID={app_id}");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut killed = 0;
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: getsid has no memory-safety preconditions.
        if unsafe { libc::getsid(pid) } != sid {
            continue;
        }
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        if environ
            .split(|b| *b == 0)
            .any(|var| var == marker.as_bytes())
        {
            // SAFETY: kill has no memory-safety preconditions.
            if unsafe { libc::kill(pid, libc::SIGKILL) } == 0 {
                killed += 1;
            }
        }
    }
    killed
}
