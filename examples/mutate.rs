//! Fuzzing on a stable toolchain: every fuzz target of `fuzz/` (the same bodies, from
//! `fuzz/src/lib.rs`) fed mutations of its checked-in seeds for a bounded time. No coverage
//! guidance (that needs cargo-fuzz on nightly, `.ci/fuzz`): stacked byte-level mutations
//! (flips, interesting values, tokens of the input's grammar, deletions, duplications,
//! truncations, splices with another seed) from a seeded generator, so a run is reproducible.
//!
//! A panic, or an input that runs longer than `--hang` seconds, fails the run; the input is
//! written to `fuzz/artifacts/<target>/` (keep it as a seed once fixed).
//!
//! ```sh
//! cargo run --example mutate -- --seconds 15              # every target, 15 s each
//! cargo run --example mutate -- --seconds 60 --seed 7 otlp_json config
//! ```

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod targets;

/// Inputs longer than this are cut (as `-max_len` does for libFuzzer in `.ci/fuzz`).
const MAX_LEN: usize = 65_536;

/// Bytes and tokens that decoders treat specially: JSON, YAML, protobuf varints and lengths,
/// gzip's magic, numbers at the edges.
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b":",
    b",",
    b"\\",
    b"\\u0000",
    b"\\ud800",
    b"null",
    b"true",
    b"-0",
    b"1e999",
    b"NaN",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"0.0000001",
    b"\n",
    b"\t",
    b"- ",
    b": ",
    b"&a ",
    b"*a",
    b"!!binary ",
    b"---\n",
    b"#",
    b"=",
    b"=~",
    b"\xff\xff\xff\xff\x0f",
    b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01",
    b"\x1f\x8b\x08\x00",
    b"\x00",
    b"\xc0\x80",
    b"\xf0\x9f\x92",
];

struct Options {
    seconds: u64,
    seed: u64,
    hang: u64,
    targets: Vec<String>,
}

fn options() -> Result<Options, String> {
    let mut options = Options { seconds: 15, seed: 1, hang: 10, targets: Vec::new() };
    let mut arguments = std::env::args().skip(1);
    while let Some(argument) = arguments.next() {
        let mut number = |name: &str| {
            arguments
                .next()
                .and_then(|value| value.parse::<u64>().ok())
                .ok_or_else(|| format!("{name} needs a whole number"))
        };
        match argument.as_str() {
            "--seconds" => options.seconds = number("--seconds")?,
            "--seed" => options.seed = number("--seed")?,
            "--hang" => options.hang = number("--hang")?,
            name if !name.starts_with('-') => options.targets.push(name.to_owned()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(options)
}

fn main() {
    let options = match options() {
        Ok(options) => options,
        Err(error) => {
            eprintln!("mutate: {error}");
            std::process::exit(2);
        }
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let chosen: Vec<&(&str, targets::Target)> = targets::TARGETS
        .iter()
        .filter(|(name, _)| options.targets.is_empty() || options.targets.iter().any(|chosen| chosen == name))
        .collect();
    if chosen.is_empty() {
        eprintln!(
            "mutate: no such target among {:?}",
            targets::TARGETS.iter().map(|(name, _)| name).collect::<Vec<_>>()
        );
        std::process::exit(2);
    }
    // Panics are caught and reported with their input (the panic message goes to stderr).
    let running = Arc::new(Running::default());
    watchdog(running.clone(), root.join("artifacts"), Duration::from_secs(options.hang));
    let mut failed = Vec::new();
    for (name, target) in chosen {
        match fuzz(&root, name, *target, &options, &running) {
            Ok(runs) => println!("mutate: {name}: {runs} inputs in {}s, no crash", options.seconds),
            Err(artifact) => {
                println!("mutate: {name}: CRASH, input in {}", artifact.display());
                failed.push(*name);
            }
        }
    }
    if !failed.is_empty() {
        eprintln!("mutate: FAILED: {}", failed.join(" "));
        std::process::exit(1);
    }
}

/// The input being run, and how many have finished, for the watchdog.
#[derive(Default)]
struct Running {
    input: Mutex<(&'static str, Vec<u8>)>,
    finished: AtomicU64,
}

/// Ends the process when no input finished for `limit` (a hang), writing the one running to
/// `<artifacts>/<target>/hang-<hash>`.
fn watchdog(running: Arc<Running>, artifacts: PathBuf, limit: Duration) {
    std::thread::spawn(move || {
        let mut last = (running.finished.load(Ordering::Relaxed), Instant::now());
        loop {
            std::thread::sleep(limit / 10);
            let now = running.finished.load(Ordering::Relaxed);
            if now != last.0 {
                last = (now, Instant::now());
                continue;
            }
            if last.1.elapsed() < limit {
                continue;
            }
            let (name, input) = running.input.lock().map(|held| held.clone()).unwrap_or_default();
            let directory = artifacts.join(name);
            let path = directory.join(format!("hang-{:016x}", xxhash_rust::xxh3::xxh3_64(&input)));
            let _ = std::fs::create_dir_all(&directory).and_then(|()| std::fs::write(&path, &input));
            eprintln!("mutate: {name}: an input ran longer than {}s: {}", limit.as_secs(), path.display());
            std::process::exit(1);
        }
    });
}

/// Runs `target` for the time given; returns how many inputs ran, or where the crashing one is.
fn fuzz(
    root: &Path,
    name: &'static str,
    target: targets::Target,
    options: &Options,
    running: &Running,
) -> Result<u64, PathBuf> {
    let seeds = seeds(&root.join("seeds").join(name));
    let artifacts = root.join("artifacts").join(name);
    let mut random = fastrand::Rng::with_seed(options.seed ^ xxhash_rust::xxh3::xxh3_64(name.as_bytes()));
    // What ran without a crash lately: mutations stack on it, as on the seeds.
    let mut pool: Vec<Vec<u8>> = seeds.clone();
    let deadline = Instant::now() + Duration::from_secs(options.seconds);
    let mut runs = 0;
    while Instant::now() < deadline {
        let base = if random.u8(..) < 64 || pool.is_empty() { &seeds } else { &pool };
        let mut input = base.get(random.usize(..base.len().max(1))).cloned().unwrap_or_default();
        for _ in 0..=random.usize(..8) {
            mutate(&mut input, &seeds, &mut random);
        }
        input.truncate(MAX_LEN);
        if let Ok(mut held) = running.input.lock() {
            held.0 = name;
            held.1.clone_from(&input);
        }
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| target(&input)));
        running.finished.fetch_add(1, Ordering::Relaxed);
        runs += 1;
        if outcome.is_err() {
            let path = artifacts.join(format!("crash-{:016x}", xxhash_rust::xxh3::xxh3_64(&input)));
            let _ = std::fs::create_dir_all(&artifacts).and_then(|()| std::fs::write(&path, &input));
            return Err(path);
        }
        if pool.len() < 256 {
            pool.push(input);
        } else {
            let slot = random.usize(..pool.len());
            pool[slot] = input;
        }
    }
    Ok(runs)
}

fn seeds(directory: &Path) -> Vec<Vec<u8>> {
    let files = targets::seed_files(directory).unwrap_or_default();
    files.iter().filter_map(|file| std::fs::read(file).ok()).collect()
}

/// One random change to `input`.
fn mutate(input: &mut Vec<u8>, seeds: &[Vec<u8>], random: &mut fastrand::Rng) {
    let at = |random: &mut fastrand::Rng, input: &Vec<u8>| random.usize(..=input.len());
    match random.u8(..9) {
        0 if !input.is_empty() => {
            let index = random.usize(..input.len());
            input[index] ^= 1 << random.u8(..8);
        }
        1 if !input.is_empty() => {
            let index = random.usize(..input.len());
            input[index] = [0, 0x7f, 0x80, 0xff, b'0', b'9', b'"', b'{', b'['][random.usize(..9)];
        }
        2 | 3 => {
            let token = TOKENS[random.usize(..TOKENS.len())];
            let index = at(random, input);
            input.splice(index..index, token.iter().copied());
        }
        4 if !input.is_empty() => {
            let start = random.usize(..input.len());
            let end = (start + 1 + random.usize(..16)).min(input.len());
            input.drain(start..end);
        }
        5 if !input.is_empty() => {
            let start = random.usize(..input.len());
            let end = (start + 1 + random.usize(..64)).min(input.len());
            let copy: Vec<u8> = input[start..end].to_vec();
            let index = at(random, input);
            input.splice(
                index..index,
                copy.iter().copied().cycle().take(copy.len() * (1 + random.usize(..4))),
            );
        }
        6 => {
            let index = at(random, input);
            input.truncate(index);
        }
        7 if !seeds.is_empty() => {
            let other = &seeds[random.usize(..seeds.len())];
            let from = random.usize(..=other.len());
            let index = at(random, input);
            input.truncate(index);
            input.extend_from_slice(&other[from..]);
        }
        _ => {
            let index = at(random, input);
            input.insert(index, random.u8(..));
        }
    }
}
