//! The zoo folder after a run is exactly the documented layout (docs/FORMAT.md), read here with
//! nothing but serde_json, so a reader in another language can rely on it.

use std::path::Path;

use serde_json::{json, Value};

use crate::util::{json, path_arg, run, snapshot, train_tiny, tree};

const EPOCHS: u32 = 3;
const STEPS: u32 = 4;
/// Checkpoint every 2 epochs: kept are 0, 2 and the last (3).
const KEPT: [u32; 3] = [0, 2, 3];
const HEADER: &str = "model_id,load_name,load_value,temperature_name,temperature_value,seed,status,epoch,\
                      train_loss,test_loss,test_error,message";

#[test]
fn a_finished_zoo_has_exactly_the_documented_layout() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    train_tiny(tmp.path(), &zoo, EPOCHS, STEPS, 2);

    assert_eq!(std::fs::read_to_string(zoo.join("FORMAT")).unwrap().trim_end(), "phasezoo zoo format 1");

    let index = std::fs::read_to_string(zoo.join("index.csv")).expect("index.csv");
    let mut lines = index.lines();
    assert_eq!(lines.next(), Some(HEADER));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 4, "{index}");
    let mut ids = Vec::new();
    for row in &rows {
        assert_eq!(row.len(), 12, "{row:?}");
        assert_eq!((row[1], row[3], row[4]), ("beta", "lr", "0.01"), "{row:?}");
        assert_eq!((row[6], row[7], row[11]), ("done", "3", ""), "{row:?}");
        let model = zoo.join("models").join(row[0]);
        check_model(&model, row);
        ids.push(row[0].to_string());
    }
    let mut cells: Vec<(&str, &str)> = rows.iter().map(|r| (r[2], r[5])).collect();
    cells.sort_unstable();
    assert_eq!(cells, [("1.0", "0"), ("1.0", "1"), ("20.0", "0"), ("20.0", "1")]);

    // Exactly these entries: no plots (--no-plot), no temp files, nothing else.
    ids.sort();
    let mut expected: Vec<String> =
        ["FORMAT", ".lock", "index.csv", "index_epochs.csv", "index.parquet", "zoo.toml", "models/"]
            .map(String::from)
            .into();
    for id in &ids {
        let m = format!("models/{id}/");
        expected
            .extend(["params.json", "result.json", "status.json", "train.log"].map(|f| format!("{m}{f}")));
        expected.push(m.clone());
        for e in KEPT {
            let c = format!("{m}{}/", crate::util::checkpoint_name(e));
            expected.extend(
                ["manifest.json", "model.safetensors", "optimizer.safetensors", "state.json"]
                    .map(|f| format!("{c}{f}")),
            );
            expected.push(c);
        }
    }
    expected.sort();
    assert_eq!(tree(&zoo), expected);

    check_zoo_toml(&zoo);
}

/// zoo.toml is the resolved spec: it parses, holds the overrides, and used as the SPEC of the
/// same zoo it trains nothing and changes no byte.
fn check_zoo_toml(zoo: &Path) {
    let text = std::fs::read_to_string(zoo.join("zoo.toml")).expect("zoo.toml");
    let spec = pz_spec::ZooSpec::parse(&text, "zoo.toml", &[]).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!((spec.train.epochs, spec.train.steps_per_epoch), (EPOCHS, STEPS));
    assert_eq!(spec.grid.load.values, [1.0, 20.0]);
    assert_eq!(spec.run.device, "cpu");
    let before = snapshot(zoo);
    let args: Vec<String> = ["train", &path_arg(&zoo.join("zoo.toml")), "--no-plot", "--out", &path_arg(zoo)]
        .map(String::from)
        .into();
    let r = run(zoo.parent().expect("parent"), &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("4 models, 0 to train"), "{}", r.stderr);
    crate::util::assert_untouched(&before, zoo, "retraining from its own zoo.toml");
}

fn check_model(dir: &Path, row: &[&str]) {
    let id = dir.file_name().unwrap().to_str().unwrap();
    assert!(id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{id}");
    let params = json(&std::fs::read(dir.join("params.json")).expect("params.json"));
    assert_eq!(params["model_id"], id);
    assert_eq!(params["load"]["value"].as_f64(), row[2].parse().ok());
    assert_eq!(params["temperature"]["value"].as_f64(), Some(0.01));
    assert_eq!(params["seed"].as_u64(), row[5].parse().ok());

    let results = std::fs::read_to_string(dir.join("result.json")).expect("result.json");
    let lines: Vec<Value> = results.lines().map(|l| json(l.as_bytes())).collect();
    assert_eq!(lines.len(), EPOCHS as usize + 1, "{results}");
    for (epoch, line) in lines.iter().enumerate() {
        assert_eq!(line["epoch"], epoch, "line i is epoch i: {line}");
        assert_eq!(line["step"], epoch as u64 * u64::from(STEPS), "{line}");
        for key in ["train_loss", "test_loss", "test_error"] {
            assert!(line[key].as_f64().is_some_and(f64::is_finite), "{key}: {line}");
        }
    }
    assert_eq!(row[10].parse::<f64>().ok(), lines[EPOCHS as usize]["test_error"].as_f64());

    let status = json(&std::fs::read(dir.join("status.json")).expect("status.json"));
    assert_eq!((&status["state"], &status["epoch"]), (&json!("done"), &json!(EPOCHS)));
    assert!(std::fs::metadata(dir.join("train.log")).expect("train.log").len() > 0);

    for epoch in KEPT {
        check_checkpoint(&dir.join(crate::util::checkpoint_name(epoch)), epoch);
    }
}

/// The MLP 2 → 8 → 8 → 1 under PyTorch's `nn.Sequential` names (tanh layers hold no tensors).
const TENSORS: [(&str, &[u64]); 6] = [
    ("net.0.weight", &[8, 2]),
    ("net.0.bias", &[8]),
    ("net.2.weight", &[8, 8]),
    ("net.2.bias", &[8]),
    ("net.4.weight", &[1, 8]),
    ("net.4.bias", &[1]),
];

fn check_checkpoint(dir: &Path, epoch: u32) {
    let model = std::fs::read(dir.join("model.safetensors")).expect("model.safetensors");
    let header = safetensors_header(&model);
    assert_eq!(header.len(), TENSORS.len(), "{header:?}");
    for (name, shape) in TENSORS {
        assert_eq!(header[name]["dtype"], "F64", "{name}");
        assert_eq!(header[name]["shape"], json!(shape), "{name}");
    }
    let optimizer = safetensors_header(&std::fs::read(dir.join("optimizer.safetensors")).unwrap());
    for (name, shape) in TENSORS {
        for moment in ["exp_avg", "exp_avg_sq"] {
            assert_eq!(optimizer[&format!("{moment}.{name}")]["shape"], json!(shape), "{moment}.{name}");
        }
    }
    let state = json(&std::fs::read(dir.join("state.json")).expect("state.json"));
    assert_eq!((&state["epoch"], &state["step"]), (&json!(epoch), &json!(u64::from(epoch * STEPS))));
    let manifest = json(&std::fs::read(dir.join("manifest.json")).expect("manifest.json"));
    for file in ["model.safetensors", "optimizer.safetensors", "state.json"] {
        let len = std::fs::metadata(dir.join(file)).unwrap().len();
        assert_eq!(manifest[file]["bytes"], len, "{file}");
        assert_eq!(manifest[file]["sha256"].as_str().map(str::len), Some(64), "{file}");
    }
}

/// The tensors of a safetensors file, parsed by hand: u64 LE header length, a JSON header of
/// name → {dtype, shape, data_offsets}, then the data, which the offsets must tile exactly.
fn safetensors_header(bytes: &[u8]) -> serde_json::Map<String, Value> {
    let n = usize::try_from(u64::from_le_bytes(bytes[..8].try_into().unwrap())).unwrap();
    let Value::Object(mut header) = json(&bytes[8..8 + n]) else { panic!("header is not an object") };
    header.remove("__metadata__");
    let data_len = (bytes.len() - 8 - n) as u64;
    let mut spans: Vec<(u64, u64)> = header
        .values()
        .map(|t| {
            let elems: u64 = t["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap()).product();
            let size = match t["dtype"].as_str().unwrap() {
                "F64" => 8,
                "F32" => 4,
                other => panic!("unexpected dtype {other}"),
            };
            let (a, b) = (t["data_offsets"][0].as_u64().unwrap(), t["data_offsets"][1].as_u64().unwrap());
            assert_eq!(b - a, elems * size, "{t}");
            (a, b)
        })
        .collect();
    spans.sort_unstable();
    let mut end = 0;
    for (a, b) in spans {
        assert_eq!(a, end, "data_offsets leave a gap or overlap");
        end = b;
    }
    assert_eq!(end, data_len, "data_offsets do not cover the data");
    header
}
