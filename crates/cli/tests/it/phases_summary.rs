//! `phasezoo phases --summary`: a summary CSV in the published PTMZ format (SPEC §2.5), built
//! here with one cell per phase, comes back with the expected labels.

use crate::util::{run, strings};

const HEADER: &str =
    "model,trial_id,width,seed,lr,wd,batchsize,init_type,epoch,train_loss,train_acc,test_loss,\
                      test_acc,representation_similarity,curve_mc_train_error,curve_mc_test_error,\
                      log_hessian_trace_train,log_hessian_top_ev_val";

/// (width, batch size, train loss, mc of train error in points, CKA) → expected phase.
const CELLS: [(u32, u32, f64, f64, f64, &str); 6] = [
    (2, 1024, 0.9, -20.0, 0.70, "I"),
    (64, 8, 0.6, 12.0, 0.75, "II"),
    (8, 1024, 0.01, -15.0, 0.85, "III"),
    (64, 1024, 0.001, 0.5, 0.70, "IV-A"),
    (64, 128, 0.02, -0.8, 0.92, "IV-B"),
    (2, 8, 0.9, 0.3, 0.70, "?"), // high loss but connected: not in the taxonomy
];

#[test]
fn a_published_summary_round_trips_with_the_expected_phases() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let csv = tmp.path().join("cifar_10_ResNet18_summary.csv");
    let mut text = format!("{HEADER}\n");
    for (i, (w, bs, loss, mc, cka, _)) in CELLS.iter().enumerate() {
        for seed in 0..3 {
            // Ray trial names hold commas, so pandas quotes them.
            let model =
                format!("\"NN_tune_trainable_bf0b6_{i:05}_{seed}_model_width={w},training_batchsize={bs}\"");
            // Epoch 0 without metrics, then the analysis epoch (seeds spread around the cell value).
            text += &format!(
                "{model},t{i}{seed},{w},{seed},0.1,0.0005,{bs},kaiming_uniform,0,2.3,0.1,2.3,0.1,,,,,\n"
            );
            let l = loss * (0.9 + 0.1 * f64::from(seed));
            text += &format!(
                "{model},t{i}{seed},{w},{seed},0.1,0.0005,{bs},kaiming_uniform,115,{l},0.9,0.8,0.8,{cka},{mc},{mc},6.0,2.0\n"
            );
        }
    }
    std::fs::write(&csv, text).expect("write csv");
    let args =
        [strings(&["phases", "--json", "--summary"]), vec![csv.to_str().expect("UTF-8").into()]].concat();
    let r = run(tmp.path(), &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON");
    let cells = doc["cells"].as_array().expect("cells");
    for (w, bs, _, _, _, want) in CELLS {
        let cell = cells
            .iter()
            .find(|c| {
                c["load"].as_f64() == Some(f64::from(w)) && c["temperature"].as_f64() == Some(f64::from(bs))
            })
            .unwrap_or_else(|| panic!("no cell width {w}, batch {bs}"));
        let got = cell["yang"]["phase"].as_str().unwrap_or("?");
        assert_eq!(got, want, "width {w}, batch {bs}: {cell}");
    }
    // The table prints the same labels.
    let table = run(
        tmp.path(),
        &[strings(&["phases", "--summary"]), vec![csv.to_str().expect("UTF-8").into()]].concat(),
    );
    assert!(table.stdout.contains("IV-B") && table.stdout.contains("between I and II"), "{}", table.stdout);
    // Each cell's Hessian beside its label: every row's ln trace is 6, so every cell sits on the
    // median (flat) and no λ_max is published.
    assert!(
        table
            .stdout
            .contains("    Hessian (train): trace 403.429 at or below median 403.429 (+0.00 decades): flat"),
        "{}",
        table.stdout
    );
}
