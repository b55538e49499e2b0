use std::process::ExitCode;

use crate::config::{self, ConfigSource, Overrides};

pub fn run(source: ConfigSource, overrides: Overrides) -> ExitCode {
    match config::load(&source, &overrides) {
        Ok(config) => {
            for warning in &config.warnings {
                println!("warning: {warning}");
            }
            println!("config is valid");
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for error in &errors.0 {
                println!("error: {error}");
            }
            println!("config is invalid: {} error(s)", errors.0.len());
            ExitCode::FAILURE
        }
    }
}
