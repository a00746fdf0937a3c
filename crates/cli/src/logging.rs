//! Logs: stderr (quiet by default, -v/-vv, RUST_LOG) and one file per model.
//!
//! Every event that carries a `model` field is appended to `models/<model>/train.log` of the
//! zoo being trained, whatever the stderr level, so each model keeps its own history.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::{filter::LevelFilter, EnvFilter};

/// Where per-model log files go; set once the zoo folder is known.
#[derive(Clone, Default)]
pub struct ModelLogs {
    models_dir: Arc<Mutex<Option<PathBuf>>>,
}

impl ModelLogs {
    pub fn set_models_dir(&self, dir: PathBuf) {
        *self.models_dir.lock().expect("log dir") = Some(dir);
    }
}

/// Install the subscriber; returns the handle that routes per-model files.
pub fn init(verbose: u8) -> ModelLogs {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let logs = ModelLogs::default();
    let stderr =
        tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_target(false).with_filter(filter);
    let files = ModelFileLayer { logs: logs.clone() }.with_filter(LevelFilter::INFO);
    let _ = tracing_subscriber::registry().with(stderr).with(files).try_init();
    logs
}

struct ModelFileLayer {
    logs: ModelLogs,
}

#[derive(Default)]
struct Fields {
    model: Option<String>,
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "model" => self.model = Some(format!("{value:?}")),
            "message" => self.message = format!("{value:?}"),
            name => {
                let _ = write!(self.rest, " {name}={value:?}");
            }
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "model" {
            self.model = Some(value.to_string());
        } else {
            self.record_debug(field, &value);
        }
    }
}

impl<S: Subscriber> Layer<S> for ModelFileLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let Some(model) = fields.model else { return };
        let Some(dir) = self.logs.models_dir.lock().expect("log dir").clone() else { return };
        let path = dir.join(&model).join("train.log");
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let level = *event.metadata().level();
        let line = format!("{secs:.3} {}{} {}{}\n", level_name(level), "", fields.message, fields.rest);
        // Open per event: a zoo has hundreds of models, more than open-file limits allow.
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
            let _ = f.write_all(line.as_bytes());
        }
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARN",
        Level::INFO => "INFO",
        Level::DEBUG => "DEBUG",
        Level::TRACE => "TRACE",
    }
}
