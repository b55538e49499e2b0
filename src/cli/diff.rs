use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::{self, ConfigSource, Overrides};

/// Prints the differences; exits 0 when there are none, 1 when there are, 2 on an error.
pub fn run(input: &Path, configs: &[PathBuf], topology: Option<PathBuf>, json: bool) -> ExitCode {
    let [a, b] = configs else {
        eprintln!("error: give exactly two --config files (A, then B)");
        return ExitCode::from(2);
    };
    let load = |path: &PathBuf| {
        let overrides = Overrides { topology: topology.clone(), ..Overrides::default() };
        config::load(&ConfigSource::File(path.clone()), &overrides)
            .map_err(|errors| format!("{}: invalid config:\n{errors}", path.display()))
    };
    let result = load(a)
        .and_then(|a| Ok((a, load(b)?)))
        .and_then(|(a, b)| crate::diff::diff(input, &a, &b).map_err(|error| format!("{error:#}")));
    match result {
        Ok(diff) => {
            if json {
                match serde_json::to_string_pretty(&diff) {
                    Ok(text) => println!("{text}"),
                    Err(error) => {
                        eprintln!("error: {error}");
                        return ExitCode::from(2);
                    }
                }
            } else {
                println!("A: {}\nB: {}", a.display(), b.display());
                print!("{}", diff.render());
            }
            if diff.differences.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) }
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}
