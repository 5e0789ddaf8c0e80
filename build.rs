//! One build-time switch: `CADENZA_TEST_BACKENDS=sqlite` (a laptop without PostgreSQL)
//! compiles the PostgreSQL variants of the HTTP tests as *ignored*, so `cargo test`
//! reports them as skipped rather than as passed. CI unsets it (`.ci/run`).

fn main() {
    println!("cargo:rerun-if-env-changed=CADENZA_TEST_BACKENDS");
    // The migrations are embedded by `embed_migrations!`, which cargo does not see
    // read them: a new or edited migration must rebuild the crate.
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rustc-check-cfg=cfg(postgres_tests_skipped)");
    let sqlite_only = std::env::var("CADENZA_TEST_BACKENDS").is_ok_and(|v| v.trim() == "sqlite");
    if sqlite_only {
        println!("cargo:rustc-cfg=postgres_tests_skipped");
    }
}
