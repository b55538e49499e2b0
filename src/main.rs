use std::process::ExitCode;

use clap::Parser;

/// mimalloc: the engine and the decoders allocate per request and per alert; it measured
/// about twice glibc malloc's engine throughput (`cargo bench --bench engine`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    noisegate::cli::main(noisegate::cli::Cli::parse())
}
