//! Links tpctl as a position-dependent executable on Linux. Hundreds of keepers run this binary;
//! in a PIE, each process privately relocates ~70 KiB of read-only data at start, while a
//! non-PIE binary's pages stay shared between them all.

include!("workers/no_pie.rs");

fn main() {
    link_without_pie("bins");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=workers/no_pie.rs");
}
