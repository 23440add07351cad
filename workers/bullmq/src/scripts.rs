//! Our Lua scripts, loaded once per process; `redis::Script` runs them with EVALSHA and falls
//! back to EVAL when the server does not have them cached yet.

use std::sync::OnceLock;

use redis::Script;

macro_rules! script {
    ($fn:ident, $file:literal) => {
        pub fn $fn() -> &'static Script {
            static S: OnceLock<Script> = OnceLock::new();
            S.get_or_init(|| Script::new(include_str!(concat!("scripts/", $file))))
        }
    };
}

script!(add_job, "add_job.lua");

/// Scripts that take the next job start with the shared `moveToActive` function.
macro_rules! with_fetch {
    ($fn:ident, $file:literal) => {
        pub fn $fn() -> &'static Script {
            static S: OnceLock<Script> = OnceLock::new();
            S.get_or_init(|| {
                Script::new(concat!(
                    include_str!("scripts/move_to_active_fn.lua"),
                    include_str!(concat!("scripts/", $file))
                ))
            })
        }
    };
}

with_fetch!(move_to_active, "move_to_active.lua");
with_fetch!(move_to_finished, "move_to_finished.lua");
script!(get_counts, "get_counts.lua");
script!(pause, "pause.lua");
script!(retry_job, "retry_job.lua");
script!(extend_lock, "extend_lock.lua");
script!(move_stalled, "move_stalled.lua");
script!(add_repeatable, "add_repeatable.lua");
script!(remove_repeatable, "remove_repeatable.lua");
script!(next_iteration, "next_iteration.lua");
script!(update_progress, "update_progress.lua");
script!(add_log, "add_log.lua");
script!(reprocess_job, "reprocess_job.lua");
script!(promote, "promote.lua");
script!(remove_job, "remove_job.lua");
script!(clean, "clean.lua");
script!(drain, "drain.lua");
