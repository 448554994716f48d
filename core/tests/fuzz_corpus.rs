//! Replays the fuzz seed corpus (`fuzz/corpus/<target>/`) through the fuzz
//! bodies on stable, so every corpus entry is a regression test.

use std::path::PathBuf;

use sliceplane::fuzz_bodies;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus")).join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "empty corpus {}", dir.display());
    files
        .into_iter()
        .map(|p| {
            let data = std::fs::read(&p).unwrap();
            (p, data)
        })
        .collect()
}

/// Hand-written seeds (fuzzer-found entries are replayed too, but need not be valid).
fn is_seed((path, _): &(PathBuf, Vec<u8>)) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("seed-"))
}

fn replay(target: &str, body: fn(&[u8])) {
    for (path, data) in corpus(target) {
        let r = std::panic::catch_unwind(|| body(&data));
        assert!(r.is_ok(), "{target}: {} panicked", path.display());
    }
}

#[test]
fn parse_event_corpus() {
    replay("parse_event", fuzz_bodies::parse_event);
    // The seeds are real, valid events.
    for (path, data) in corpus("parse_event").into_iter().filter(is_seed) {
        assert!(
            sliceplane::WatchEvent::from_json(&data).is_ok(),
            "{} does not parse",
            path.display()
        );
    }
}

#[test]
fn parse_config_corpus() {
    replay("parse_config", fuzz_bodies::parse_config);
    for (path, data) in corpus("parse_config").into_iter().filter(is_seed) {
        let text = String::from_utf8(data).unwrap();
        assert!(
            sliceplane::Config::from_yaml(&text).is_ok(),
            "{} is rejected",
            path.display()
        );
    }
}

#[test]
fn event_sequence_corpus() {
    replay("event_sequence", fuzz_bodies::event_sequence);
}

#[test]
fn event_sequence_survives_arbitrary_bytes() {
    // A cheap stand-in for fuzzing on stable: deterministic pseudo-random inputs.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for len in 0..200usize {
        let data: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        fuzz_bodies::event_sequence(&data);
        fuzz_bodies::parse_event(&data);
        fuzz_bodies::parse_config(&data);
    }
}
