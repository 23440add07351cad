//! The process-wide TLS provider for reqwest's rustls: ring, the one lettre already uses, so
//! the worker carries one TLS stack and needs no C toolchain beyond gcc. Every HTTP client
//! calls this before it is built; installing more than once is harmless.

pub fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
