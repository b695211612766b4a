//! Links the Linux binaries as position-dependent executables (`-no-pie`), unless the
//! environment variable `PACS_WARDEN_PIE` is set at build time.
//!
//! Why: chrono-tz compiles every time zone into tables of pointers (about 1 MB). In a PIE those
//! pages are relocated at start-up, so each one is copied and stays resident: the idle daemon
//! uses 5.0 MB instead of 3.3 MB. A non-PIE binary is relocated at link time. The price is that
//! the executable's own code is not placed at a random address (ASLR still applies to the heap,
//! the stack and the shared libraries). pacs-warden reads no network input — only its schedule
//! file, which an administrator writes — so the default favours the small daemon; packagers
//! whose policy requires PIE build with `PACS_WARDEN_PIE=1`.

fn main() {
    println!("cargo:rerun-if-env-changed=PACS_WARDEN_PIE");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    if linux && std::env::var_os("PACS_WARDEN_PIE").is_none() {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
