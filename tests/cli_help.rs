//! The user's `nlu-lab` lists only its own commands; the course developers' ones (benchmark, synthetic
//! checkpoints) are in `nlu-lab-dev`, built with the `bench` feature.

use std::process::Command;

fn run(exe: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(exe).args(args).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn user_help_lists_the_user_commands_only() {
    let (ok, help) = run(env!("CARGO_BIN_EXE_nlu-lab"), &["--help"]);
    assert!(ok, "{help}");
    assert!(help.contains("nlu-lab attention") && help.contains("nlu-lab clip"), "{help}");
    for dev in ["bench", "synth-clip", "synth-bert"] {
        assert!(!help.contains(&format!("nlu-lab {dev}")), "`nlu-lab --help` lists the dev command {dev}:\n{help}");
        let (ok, _) = run(env!("CARGO_BIN_EXE_nlu-lab"), &[dev]);
        assert!(!ok, "`nlu-lab {dev}` is a dev command (nlu-lab-dev), not a user one");
    }
    assert!(help.contains("nlu-lab-dev"), "{help}");
}

#[cfg(feature = "bench")]
#[test]
fn dev_help_lists_the_dev_commands() {
    let (ok, help) = run(env!("CARGO_BIN_EXE_nlu-lab-dev"), &["--help"]);
    assert!(ok, "{help}");
    for dev in ["bench", "synth-clip", "synth-bert"] {
        assert!(help.contains(&format!("nlu-lab-dev {dev}")), "{help}");
    }
    assert!(!help.contains("nlu-lab attention"), "{help}");
}
