// Shared by the build scripts of tpctl, tp-bullmq and tp-worker (each `include!`s it).
//
// Links position-dependent executables on Linux/glibc. In a PIE the dynamic loader relocates
// the binary's read-only data in every process (those pages become private) and reads a
// relocation table of about a megabyte: for hundreds of keepers, or an idle worker, that is a
// large share of their memory. `kind` is the cargo link-arg target: "bins" or "examples".
fn link_without_pie(kind: &str) {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-{kind}=-no-pie");
    }
}
