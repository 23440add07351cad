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
script!(get_counts, "get_counts.lua");
script!(pause, "pause.lua");
