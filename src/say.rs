//! What `--quiet` silences: the lines that say something went as asked (`✓ …`, the tables
//! after a start, notes). Whatever went wrong is printed all the same, so `-q` prints only
//! errors, as PM2's `-s` does.

use std::sync::atomic::{AtomicBool, Ordering};

static QUIET: AtomicBool = AtomicBool::new(false);

/// Set once, from `--quiet`, before the command runs.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// `println!` unless `--quiet`: for what went right.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        if !$crate::say::quiet() {
            println!($($arg)*);
        }
    };
}
