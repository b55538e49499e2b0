use std::process::ExitCode;

use clap::Parser;

/// mimalloc: the engine and the decoders allocate per request and per alert; the engine
/// benchmark takes 79 ms per 100,000 alert events with it, 102 ms with glibc's malloc
/// (`cargo bench --bench engine -- alerts_all_stages`, with and without the allocator lines of
/// `benches/engine.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    noisegate::cli::main(noisegate::cli::Cli::parse())
}
