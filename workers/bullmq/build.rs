//! Links tp-bullmq's example workers as position-dependent executables on Linux: a PIE's
//! relocation table (about 1 MiB here) is read at every start and its relocated read-only data
//! becomes private, which is a fifth of an idle worker's memory.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-examples=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
