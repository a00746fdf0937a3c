//! The fused cross-entropy kernels (kernels/rows_cross_entropy.cu) emulated on the CPU
//! (emulation/rows_ce_harness.cpp): their indexing, reductions, padding and ignored rows are
//! checked on every machine, not only where a GPU runs the GPU test.

use std::path::Path;
use std::process::Command;

fn compiler() -> String {
    std::env::var("CXX").unwrap_or_else(|_| "c++".into())
}

/// Whether the C++ compiler builds a C++20 program with `std::barrier` (the harness needs it).
fn has_cxx20_barrier(dir: &Path) -> bool {
    let probe = dir.join("probe.cpp");
    std::fs::write(&probe, "#include <barrier>\nint main() { std::barrier<> b(1); b.arrive_and_wait(); }\n")
        .unwrap();
    Command::new(compiler())
        .args(["-std=c++20", "-pthread", "-o"])
        .arg(dir.join("probe"))
        .arg(&probe)
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
#[allow(clippy::print_stderr)] // a skip must be visible in the test output
fn the_fused_cross_entropy_kernels_compute_loss_and_gradient_as_the_reference_on_the_cpu() {
    let dir = tempfile::tempdir().unwrap();
    if !has_cxx20_barrier(dir.path()) {
        eprintln!(
            "skipped: no C++20 compiler with <barrier> ({}); the GPU test still covers the kernels",
            compiler()
        );
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let kernel = root.join("kernels/rows_cross_entropy.cu");
    let exe = dir.path().join("harness");
    let built = Command::new(compiler())
        .args(["-std=c++20", "-O1", "-pthread"])
        .arg(format!("-DKERNEL_SOURCE=\"{}\"", kernel.display()))
        .arg(root.join("tests/emulation/rows_ce_harness.cpp"))
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "the harness does not build:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let run = Command::new(&exe).output().unwrap();
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "the emulated kernels disagree with the reference:\n{out}");
    assert!(out.contains("threads 32: 0 failures") && out.contains("threads 64: 0 failures"), "{out}");
}
