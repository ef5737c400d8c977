//! A mutation fuzzer for the JPEG decoder that needs no nightly toolchain: random mutations (bit flips, byte
//! inserts and deletes, spliced and repeated marker segments, edited length fields and frame sizes, truncation)
//! of the committed corpus (tests/fixtures/jpeg-corpus/), each run through our decoder alone (under
//! `catch_unwind`) and through `image_prep::decode_rgb` (both decoders, as the app runs them). Fails on any panic,
//! or on an input slower than [`SLOW`]; the input is saved under `<target>/tmp/jpeg-fuzz-failures/` with the seed
//! that reproduces it.
//!
//! Budget: `NLU_LAB_FUZZ_SECONDS` (default 5, so that `cargo test` stays quick; scripts/test.sh runs 60).
//! `NLU_LAB_FUZZ_SEED` changes the sequence (default fixed, so a run is repeatable); `NLU_LAB_FUZZ_ONLY=i` runs
//! input i of that sequence alone.

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;
use nlu_lab::engine::image_prep::{self, jpeg};

/// Per input, for both decodes together (debug build), in this thread's CPU time: on a loaded machine (CI runs
/// this beside release builds) wall time doubles and flagged sound inputs. The corpus files take about 10 ms.
const SLOW: Duration = Duration::from_secs(2);

/// CPU time this thread has used (not wall time: see [`SLOW`]).
fn thread_cpu_time() -> Duration {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Inputs whose frame header claims more pixels are not decoded, as libjpeg-turbo's (and OSS-Fuzz's) fuzz targets
/// skip images over 1 megapixel. A quarter of that here: this crate's debug build (opt-level 0) decodes only
/// 0.3–0.7 megapixels a second, and an input may be decoded twice (as the app does, then by our decoder alone).
/// Large frames are tested on their own in tests/jpeg_corpus.rs.
const MAX_FUZZ_PIXELS: u64 = 1 << 18;

/// xorshift64*: small, seedable, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// 0..n (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

/// (start of the 0xFF, end) of each marker segment before the first scan's data, and each SOS header.
fn segments(d: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 2;
    while i + 4 <= d.len() && d[i] == 0xFF {
        let marker = d[i + 1];
        if marker == 0xD9 || (0xD0..=0xD7).contains(&marker) {
            break;
        }
        let end = i + 2 + u16::from_be_bytes([d[i + 2], d[i + 3]]) as usize;
        if end > d.len() {
            break;
        }
        out.push((i, end));
        if marker == 0xDA {
            break;
        }
        i = end;
    }
    out
}

/// One mutated input from the seed files.
fn mutate(seeds: &[Vec<u8>], rng: &mut Rng) -> Vec<u8> {
    let mut d = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(4) {
        if d.is_empty() {
            d.extend([0xFF, 0xD8]);
        }
        let len = d.len();
        match rng.below(11) {
            0 => {
                let p = rng.below(len);
                d[p] ^= 1 << rng.below(8);
            }
            1 => {
                let p = rng.below(len);
                d[p] = [0x00, 0xFF, 0x01, 0x7F, 0x80, 0xD9, 0xDA, rng.byte()][rng.below(8)];
            }
            2 => {
                let p = rng.below(len + 1);
                let bytes: Vec<u8> = (0..1 + rng.below(8)).map(|_| rng.byte()).collect();
                d.splice(p..p, bytes);
            }
            3 => {
                let p = rng.below(len);
                let n = (1 + rng.below(16)).min(len - p);
                d.drain(p..p + n);
            }
            4 => d.truncate(rng.below(len)),
            5 => {
                // Splice a marker segment of another file before one of this file's.
                let other = &seeds[rng.below(seeds.len())];
                let (from, to) = (segments(other), segments(&d));
                if let (false, false) = (from.is_empty(), to.is_empty()) {
                    let (s, e) = from[rng.below(from.len())];
                    let at = to[rng.below(to.len())].0;
                    d.splice(at..at, other[s..e].to_vec());
                }
            }
            6 => {
                // Repeat a segment (a second SOF, DHT, or SOS header) in place.
                let segs = segments(&d);
                if !segs.is_empty() {
                    let (s, e) = segs[rng.below(segs.len())];
                    let copy = d[s..e].to_vec();
                    for _ in 0..1 + rng.below(3) {
                        d.splice(e..e, copy.clone());
                    }
                }
            }
            7 => {
                // Edit a length field: a little off, or anything.
                let segs = segments(&d);
                if !segs.is_empty() {
                    let (s, e) = segs[rng.below(segs.len())];
                    let old = (e - s - 2) as i64;
                    let new = if rng.below(2) == 0 { old + rng.below(9) as i64 - 4 } else { rng.below(65536) as i64 };
                    d[s + 2..s + 4].copy_from_slice(&(new.clamp(0, 65535) as u16).to_be_bytes());
                }
            }
            8 => {
                // Edit the frame header: size, precision, component count, sampling or table numbers.
                // (A frame header whose length field an earlier mutation cut below 3 has no field to edit.)
                if let Some(&(s, e)) = segments(&d).iter().find(|&&(s, e)| e > s + 4 && matches!(d[s + 1], 0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF)) {
                    let field = s + 4 + rng.below(e - s - 4);
                    d[field] = [0, 1, 2, 3, 4, 8, 12, 16, 0x11, 0x22, 0x44, 0xFF, rng.byte()][rng.below(13)];
                }
            }
            9 => {
                // Cut a run of bytes out of the entropy-coded data and paste it elsewhere in it.
                if let Some(&(_, sos_end)) = segments(&d).last() {
                    if sos_end + 2 < len {
                        let p = sos_end + rng.below(len - sos_end);
                        let n = (1 + rng.below(32)).min(len - p);
                        let run: Vec<u8> = d.drain(p..p + n).collect();
                        let q = sos_end + rng.below(d.len() - sos_end + 1);
                        d.splice(q..q, run);
                    }
                }
            }
            _ => {
                // Append another file's tail (extra scans, a second image).
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len());
                d.extend_from_slice(&other[from..]);
            }
        }
    }
    d
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| v.parse().unwrap_or_else(|_| panic!("{name}={v}: not a number")))
}

static PANICS: AtomicUsize = AtomicUsize::new(0);
/// Set while an input is decoded: a panic there is a finding; one elsewhere (in this harness) goes to the default
/// hook, so that its message is printed.
static DECODING: AtomicBool = AtomicBool::new(false);
static LAST_PANIC: Mutex<String> = Mutex::new(String::new());

#[test]
fn jpeg_decoder_survives_mutated_files() {
    let budget = Duration::from_secs_f64(env_u64("NLU_LAB_FUZZ_SECONDS").unwrap_or(5) as f64);
    let base_seed = env_u64("NLU_LAB_FUZZ_SEED").unwrap_or(14);
    let only = env_u64("NLU_LAB_FUZZ_ONLY");
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    for sub in ["jpeg-corpus", "jpeg-corpus/fuzz"] {
        let Ok(list) = std::fs::read_dir(fixture(sub)) else { continue };
        let mut names: Vec<PathBuf> = list.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "jpg")).collect();
        names.sort();
        seeds.extend(names.into_iter().map(read));
    }
    assert!(seeds.len() >= 20, "the seed corpus is missing");
    // Every panic, also those decode_rgb catches (inside the `image` crate), is counted and its place kept.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !DECODING.load(Ordering::SeqCst) {
            return default_hook(info);
        }
        PANICS.fetch_add(1, Ordering::SeqCst);
        *LAST_PANIC.lock().unwrap() = info.to_string();
    }));
    let failures = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("jpeg-fuzz-failures");
    let start = Instant::now();
    let (mut tried, mut errors, mut decodes, mut exact, mut fallback) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let (mut slowest, mut slowest_input, mut skipped) = (Duration::ZERO, 0u64, 0u64);
    let mut problems: Vec<String> = Vec::new();
    let mut messages: std::collections::HashMap<String, u64> = Default::default();
    let mut index = only.unwrap_or(0);
    while problems.len() < 5 && (only.is_some() || start.elapsed() < budget) {
        let mut rng = Rng::new(base_seed ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03));
        let input = mutate(&seeds, &mut rng);
        index += 1;
        DECODING.store(true, Ordering::SeqCst);
        let claimed = image_prep::header_dimensions(&input, image::ImageFormat::Jpeg).map_or(0, |(w, h)| w as u64 * h as u64);
        if claimed > MAX_FUZZ_PIXELS && only.is_none() {
            DECODING.store(false, Ordering::SeqCst);
            skipped += 1;
            continue;
        }
        let panics_before = PANICS.load(Ordering::SeqCst);
        let t = thread_cpu_time();
        // The app's path first (it runs our decoder inside its own catch_unwind, where the hook still sees a panic);
        // our decoder alone again when that path refused the file, perhaps before reaching it.
        let app = std::panic::catch_unwind(|| image_prep::decode_rgb(&input));
        let ours = match &app {
            Ok(Ok((_, info))) => Ok(Ok(if info.decoder == "image crate" { None } else { Some(()) })),
            _ => std::panic::catch_unwind(|| jpeg::decode(&input).map(|d| d.map(|_| ()))),
        };
        let took = thread_cpu_time() - t;
        DECODING.store(false, Ordering::SeqCst);
        let index = index - 1;
        tried += 1;
        if took > slowest {
            (slowest, slowest_input) = (took, index);
        }
        match &ours {
            Ok(Ok(Some(_))) => exact += 1,
            Ok(Ok(None)) => fallback += 1,
            _ => {}
        }
        match &app {
            Ok(Ok(_)) => decodes += 1,
            Ok(Err(e)) => {
                errors += 1;
                // Grouped with their numbers blanked, to print which refusals the inputs met.
                let kind: String = e.to_string().chars().map(|c| if c.is_ascii_digit() { '#' } else { c }).collect();
                *messages.entry(kind).or_insert(0u64) += 1;
            }
            Err(_) => {}
        }
        let problem = if PANICS.load(Ordering::SeqCst) > panics_before {
            Some(format!("panic: {}", LAST_PANIC.lock().unwrap()))
        } else if took > SLOW {
            Some(format!("took {took:.2?}"))
        } else {
            None
        };
        if let Some(p) = problem {
            std::fs::create_dir_all(&failures).unwrap();
            let path = failures.join(format!("seed{base_seed}-input{index}.jpg"));
            std::fs::write(&path, &input).unwrap();
            problems.push(format!(
                "input {index} ({p}); saved as {}; reproduce: NLU_LAB_FUZZ_SEED={base_seed} NLU_LAB_FUZZ_ONLY={index} cargo test --features bench --test jpeg_fuzz",
                path.display()
            ));
        }
        if only.is_some() {
            break;
        }
    }
    let _ = std::panic::take_hook();
    let panics = PANICS.load(Ordering::SeqCst);
    println!(
        "jpeg fuzz: {tried} inputs in {:.1} s, {errors} errors, {decodes} decodes, {panics} panics, slowest {:.1} ms of CPU (input {slowest_input}); \
         our decoder took {exact} itself and left {fallback} to the image crate; {skipped} more skipped (frame over 1/4 MP); \
         seed {base_seed}, {} seed files",
        start.elapsed().as_secs_f64(),
        slowest.as_secs_f64() * 1e3,
        seeds.len()
    );
    let mut messages: Vec<_> = messages.into_iter().collect();
    messages.sort_by_key(|m| std::cmp::Reverse(m.1));
    println!("the most frequent of {} kinds of error message:", messages.len());
    for (m, n) in messages.iter().take(12) {
        println!("  {n:6}  {m}");
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(tried, errors + decodes, "every input ends in an error or a decode");
}
