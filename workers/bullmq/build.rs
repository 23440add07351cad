//! Links tp-bullmq's example workers (the benchmark's) without PIE, as tp-worker is linked: the
//! relocation table and relocated read-only data were 1.7 MB of an idle worker's 5.6 MB RSS.

include!("../no_pie.rs");

fn main() {
    link_without_pie("examples");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../no_pie.rs");
}
