//! Times weight matching at full size: two random torchvision ResNets (ResNet-50 at width 64
//! by default, 23.5 M parameters), CPU only.
//!
//!     cargo run --release -p pz-align --example match_resnet -- [resnet18|resnet50] [width]
//!
//! Random weights are the slow case: nothing matches, so coordinate descent runs many sweeps;
//! a permuted copy of one net converges in two.
#![allow(clippy::print_stdout)] // a timing tool: its output is the point

use std::time::Instant;

use pz_align::{permute, resnet_spec, weight_matching, MatchConfig, Permutation};

#[path = "../tests/it/nets.rs"]
#[allow(dead_code)]
mod nets;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bottleneck = args.get(1).is_none_or(|a| a == "resnet50");
    let width = args.get(2).map_or(64, |w| w.parse().expect("width"));
    let (a, b) = (nets::resnet(bottleneck, width, 3, 10, 1), nets::resnet(bottleneck, width, 3, 10, 2));
    let spec = resnet_spec(&a).expect("a ResNet");
    let start = Instant::now();
    let one = MatchConfig { max_iterations: 1, ..MatchConfig::default() };
    let report = weight_matching(&spec, &a, &b, &one).expect("matching");
    println!("one sweep over {} groups: {:.2} s", spec.groups.len(), start.elapsed().as_secs_f64());
    let shuffled = permute(&spec, &Permutation::random(&spec, 3), &a).expect("permute");
    let start = Instant::now();
    let found = weight_matching(&spec, &a, &shuffled, &MatchConfig::default()).expect("matching");
    println!(
        "a permuted copy: {} sweeps, converged {}, {:.2} s",
        found.iterations,
        found.converged,
        start.elapsed().as_secs_f64()
    );
    let start = Instant::now();
    let report_full = weight_matching(&spec, &a, &b, &MatchConfig::default()).expect("matching");
    println!(
        "two random nets: {} sweeps, converged {}, {:.2} s (objective {:.1} → {:.1})",
        report_full.iterations,
        report_full.converged,
        start.elapsed().as_secs_f64(),
        report.objective,
        report_full.objective
    );
}
