//! The fuzz seeds (`fuzz/seeds/<target>/`) on stable: every checked-in input, nasty ones and
//! saved crashes alike, goes through its decoder exactly as its fuzz target sends it, and must
//! not panic. `.ci/fuzz` explores beyond the seeds on nightly.

use std::panic::{self, AssertUnwindSafe};
use std::path::Path;

#[path = "../../fuzz/src/lib.rs"]
mod targets;

#[test]
fn every_fuzz_seed_decodes_without_panicking() {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let mut panicked = Vec::new();
    let mut count = 0;
    for (name, target) in targets::TARGETS {
        let directory = seeds.join(name);
        assert!(directory.is_dir(), "no seeds for fuzz target {name}: {} is missing", directory.display());
        let files = targets::seed_files(&directory)
            .unwrap_or_else(|error| panic!("cannot list {}: {error}", directory.display()));
        assert!(!files.is_empty(), "no seeds for fuzz target {name}: {} is empty", directory.display());
        for file in files {
            let data = std::fs::read(&file)
                .unwrap_or_else(|error| panic!("cannot read {}: {error}", file.display()));
            if panic::catch_unwind(AssertUnwindSafe(|| target(&data))).is_err() {
                panicked.push(file.display().to_string());
            }
            count += 1;
        }
    }
    assert!(panicked.is_empty(), "decoders panicked on these fuzz seeds:\n{}", panicked.join("\n"));

    // Every seed directory belongs to a target, so a misnamed one cannot go unchecked.
    for entry in std::fs::read_dir(&seeds).expect("fuzz/seeds is readable") {
        let name = entry.expect("a readable directory entry").file_name();
        let name = name.to_string_lossy();
        assert!(
            targets::TARGETS.iter().any(|(target, _)| *target == name),
            "fuzz/seeds/{name} matches no fuzz target"
        );
    }
    assert!(count > 0);
}
