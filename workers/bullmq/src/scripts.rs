//! Our Lua scripts, loaded once per process; `redis::Script` (admin paths) and the worker's
//! own link run them with EVALSHA and fall back to EVAL when the server does not have them
//! cached yet.

use std::sync::OnceLock;

use redis::Script;

/// A script's source and its `redis::Script` (which holds the SHA1).
pub struct Lua {
    code: &'static str,
    script: Script,
}

impl Lua {
    fn new(code: &'static str) -> Lua {
        Lua {
            code,
            script: Script::new(code),
        }
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn sha(&self) -> &str {
        self.script.get_hash()
    }
}

impl std::ops::Deref for Lua {
    type Target = Script;

    fn deref(&self) -> &Script {
        &self.script
    }
}

/// A script, after the shared functions it calls (each a `local function` in its own file).
macro_rules! script {
    ($fn:ident, $file:literal $(, uses $($shared:literal),+)?) => {
        pub fn $fn() -> &'static Lua {
            static S: OnceLock<Lua> = OnceLock::new();
            S.get_or_init(|| {
                Lua::new(concat!(
                    $($(include_str!(concat!("scripts/", $shared)),)+)?
                    include_str!(concat!("scripts/", $file))
                ))
            })
        }
    };
}

script!(add_job, "add_job.lua", uses "add_delayed_fn.lua");
script!(move_to_active, "move_to_active.lua", uses "move_to_active_fn.lua");
script!(move_to_finished, "move_to_finished.lua", uses "move_to_active_fn.lua", "release_lock_fn.lua", "add_delayed_fn.lua");
script!(get_counts, "get_counts.lua");
script!(pause, "pause.lua");
script!(retry_job, "retry_job.lua", uses "release_lock_fn.lua", "add_delayed_fn.lua");
script!(extend_lock, "extend_lock.lua");
script!(move_stalled, "move_stalled.lua");
script!(add_repeatable, "add_repeatable.lua");
script!(remove_repeatable, "remove_repeatable.lua");
script!(add_job_scheduler, "add_job_scheduler.lua");
script!(next_iteration, "next_iteration.lua", uses "add_delayed_fn.lua");
script!(update_progress, "update_progress.lua");
script!(add_log, "add_log.lua");
script!(reprocess_job, "reprocess_job.lua");
script!(promote, "promote.lua");
script!(remove_job, "remove_job.lua");
script!(clean, "clean.lua");
script!(drain, "drain.lua");
