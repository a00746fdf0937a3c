//! `phasezoo data fetch NAME [--from PATH]` and `phasezoo data list`: get an image dataset into
//! the uint8 cache that image zoos train from, or a text corpus into nanoGPT's token files.

use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;

use anyhow::{Context, Result};
use pz_data::text::{corpus_dir, TextCorpus};
use pz_data::vision::{cache_path, default_data_dir, fetch, import, DatasetName};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: DataCommand,
    /// Folder of the dataset caches (default: $PHASEZOO_DATA, else ~/.cache/phasezoo/data).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
enum DataCommand {
    /// Download a dataset from its canonical URL (SHA-256 checked, resumable) and cache it, or
    /// import a local copy with --from.
    Fetch {
        /// fashion-mnist, cifar10, cifar100, svhn, tiny-imagenet, mnist, stl10 (images),
        /// shakespeare or openwebtext (text).
        name: String,
        /// A local copy: the distribution file(s) or their folder.
        #[arg(long)]
        from: Option<PathBuf>,
        /// Another host serving the same file names (a mirror).
        #[arg(long)]
        base_url: Option<String>,
    },
    /// List the datasets and whether each is cached.
    List,
}

pub fn run(args: &Args, progress: bool) -> Result<ExitCode> {
    let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    match &args.command {
        DataCommand::List => {
            let mut out = String::new();
            for name in DatasetName::ALL {
                let path = cache_path(&data_dir, name);
                let state =
                    if path.exists() { format!("cached: {}", path.display()) } else { "not cached".into() };
                out.push_str(&format!("{:<14} {state}\n", name.as_str()));
            }
            for corpus in TextCorpus::ALL {
                let dir = corpus_dir(&data_dir, corpus);
                let state = if dir.join("meta.json").exists() {
                    format!("built: {}", dir.display())
                } else {
                    "not built".into()
                };
                out.push_str(&format!("{:<14} {state}\n", corpus.as_str()));
            }
            print(&out);
        }
        DataCommand::Fetch { name, from, base_url: _ } if name.parse::<TextCorpus>().is_ok() => {
            let corpus: TextCorpus = name.parse()?;
            let bar = crate::progress::bytes_bar(progress, &format!("fetching {corpus}"));
            let report = corpus.fetch(&data_dir, from.as_deref(), &|_, done, total| {
                if let Some(total) = total {
                    bar.set_length(total);
                }
                bar.set_position(done);
            });
            bar.finish_and_clear();
            let report = report.with_context(|| format!("cannot fetch {corpus}"))?;
            for note in &report.notes {
                eprintln!("phasezoo: note: {note}");
            }
            let (train, val) = (report.meta.train.tokens, report.meta.val.tokens);
            print(&format!(
                "{corpus}: {train} train and {val} validation tokens at {}\n",
                report.dir.display()
            ));
        }
        DataCommand::Fetch { name, from, base_url } => {
            let name = DatasetName::from_str(name)?;
            let cache = match from {
                Some(from) => import(name, from, &data_dir)
                    .with_context(|| format!("cannot import {name} from {}", from.display()))?,
                None => {
                    let bar = crate::progress::bytes_bar(progress, &format!("fetching {name}"));
                    let report = fetch(name, &data_dir, base_url.as_deref(), &|done, total| {
                        if let Some(total) = total {
                            bar.set_length(total);
                        }
                        bar.set_position(done);
                    });
                    bar.finish_and_clear();
                    let report = report.with_context(|| format!("cannot fetch {name}"))?;
                    for note in report.notes() {
                        eprintln!("phasezoo: note: {note}");
                    }
                    report.cache
                }
            };
            print(&format!("{name}: cached at {}\n", cache.display()));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print(text: &str) {
    use std::io::Write as _;
    let _ = std::io::stdout().write_all(text.as_bytes());
}
