use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    noisegate::cli::main(noisegate::cli::Cli::parse())
}
