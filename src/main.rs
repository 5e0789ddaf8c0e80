//! The `cadenza` binary: parse the command line and hand over to the library.

/// mimalloc instead of glibc's malloc: the import pipeline's threads (parsing,
/// validating, writing) allocate and free across threads, where glibc's arena locks
/// showed as a fifth of the ERN import's time (`docs/performance.md`, "DDEX ERN import").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cadenza::cli::main()
}
