//! Links tpctl as a position-dependent executable on Linux. Hundreds of keepers run this binary;
//! in a PIE, each process privately relocates ~70 KiB of read-only data at start, while a
//! non-PIE binary's pages stay shared between them all.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
