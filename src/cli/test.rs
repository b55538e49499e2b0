use std::path::PathBuf;
use std::process::ExitCode;

/// Runs every file's cases; exits 0 when all pass, 1 when one fails, 2 when a file cannot be
/// read or its config is invalid.
pub fn run(files: &[PathBuf]) -> ExitCode {
    let (mut passed, mut failed, mut broken) = (0, 0, 0);
    for path in files {
        match crate::ruletest::run_file(path) {
            Ok(outcome) => {
                print!("{}", outcome.text);
                passed += outcome.passed;
                failed += outcome.failed;
            }
            Err(error) => {
                println!("ERROR {error}");
                broken += 1;
            }
        }
    }
    println!(
        "{passed} passed, {failed} failed{}",
        if broken > 0 { format!(", {broken} file(s) unusable") } else { String::new() }
    );
    if broken > 0 {
        ExitCode::from(2)
    } else if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
