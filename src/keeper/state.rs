//! `state.json`: the keeper's record of its app, replaced atomically on every change so that the
//! client can report an app whose keeper is gone, and a restarted keeper can keep the ledger.

use std::collections::VecDeque;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::persist::write_atomic;
use crate::proto::{AppStatus, LedgerEntry};

/// Restarts kept in the ledger; older ones are dropped.
pub const LEDGER_LEN: usize = 100;

/// Everything in state.json.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PersistedState {
    /// Format version of this file.
    pub format: u32,
    pub status: AppStatus,
    /// The app's session id (its first pid) while it runs: lets the client clean up after a lost keeper.
    pub session: Option<i32>,
    pub ledger: VecDeque<LedgerEntry>,
}

pub const FORMAT: u32 = 1;

/// Writes the state; not fsynced, since it is rewritten on every change and a lost write after
/// a power cut only costs a stale status line.
pub fn save(path: &Path, state: &PersistedState) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
    write_atomic(path, &bytes, 0o600, false)
}

/// Reads the state, tolerating a missing or unreadable file.
pub fn load(path: &Path) -> Option<PersistedState> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}
