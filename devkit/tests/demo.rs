//! `ironroot-demo` as a user runs it: a narrative line per phase, no raw program logs, and a report
//! that shows the rollback detected and every record readable afterwards.
use std::process::Command;

#[test]
fn demo_prints_a_clean_narrative_and_its_report() {
    let out = Command::new(env!("CARGO_BIN_EXE_ironroot-demo"))
        .args(["--records", "200", "--shards", "2"])
        .env("RUST_LOG", "error")
        .output()
        .expect("run ironroot-demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("records after recovery     200 readable"), "{stdout}");
    assert!(stdout.contains("rollback detected on every shard"), "{stdout}");
    assert_eq!(stdout.lines().filter(|l| l.starts_with('[')).count(), 13, "one line per phase:\n{stdout}");
    // The availability story: answered, destroyed, missed, slashed with the balances.
    assert!(stdout.contains("the keeper answers by itself"), "{stdout}");
    assert!(
        stdout.contains(
            "slash                    publisher 10000 → 20000 tokens, stake vault 10000 → 0 tokens"
        ),
        "{stdout}"
    );
    for raw in ["Instruction:", "data:", "Program log:"] {
        assert!(!stdout.contains(raw), "raw program log {raw:?} in the demo's output:\n{stdout}");
    }
}
