//! Ray (issue 20): a loopback Ray head node (127.0.0.1 only, usage statistics off) runs three
//! `phasezoo work` workers that `phasezoo submit --ray` submitted as Ray jobs with a third of
//! a (declared) GPU each; every model is trained exactly once and the zoo equals one `train`
//! run byte for byte. Skipped with a note when no `ray` program is found (`$PHASEZOO_RAY`, the
//! repo's .venv, PATH; `pip install "ray[default]"`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{command, path_arg, run_command, signal, strings};
use crate::workers::{assert_equal_to, assert_trained_exactly_once, overrides, reference};

/// The `ray` program, if any.
fn ray_program() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/ray");
    let candidates = [std::env::var_os("PHASEZOO_RAY").map(PathBuf::from), Some(venv), Some("ray".into())];
    candidates
        .into_iter()
        .flatten()
        .find(|p| Command::new(p).arg("--version").output().is_ok_and(|o| o.status.success()))
}

/// A port free on 127.0.0.1 right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

/// `ray start --head --block`, stopped (SIGTERM to the process we started, which stops the
/// processes it started) however the test ends.
struct Head {
    child: Child,
    temp: PathBuf,
}

impl Drop for Head {
    fn drop(&mut self) {
        let t0 = Instant::now();
        signal(&self.child, libc::SIGTERM);
        let _ = self.child.wait();
        #[allow(clippy::print_stderr)] // what CI time Ray costs
        {
            eprintln!("ray head stopped in {:.1}s", t0.elapsed().as_secs_f64());
        }
        let _ = std::fs::remove_dir_all(&self.temp);
    }
}

fn ray_env(c: &mut Command) -> &mut Command {
    // Nothing leaves the machine: no usage statistics, no update checks.
    c.env("RAY_USAGE_STATS_ENABLED", "0").env("RAY_DISABLE_DOCKER_CPU_WARNING", "1")
}

#[test]
#[allow(clippy::print_stderr)] // the skip note and the timings
fn issue_20_ray_jobs_with_fractional_gpus_train_every_model_once_and_match_train() {
    let Some(ray) = ray_program() else {
        assert!(std::env::var_os("CI").is_none(), "CI must install ray into .venv (./pz test does)");
        eprintln!("skipped: no `ray` program (pip install \"ray[default]\" into .venv, or set PHASEZOO_RAY)");
        return;
    };
    let tmp = tempfile::tempdir().expect("temp dir");
    // Ray's socket paths must stay short: its own folder under /tmp.
    let temp = PathBuf::from(format!("/tmp/pzray-{}", std::process::id()));
    let dashboard = free_port();
    let gcs = free_port();
    let t0 = Instant::now();
    let mut c = Command::new(&ray);
    c.args(["start", "--head", "--block", "--disable-usage-stats", "--node-ip-address=127.0.0.1"])
        .arg(format!("--port={gcs}"))
        .args(["--dashboard-host=127.0.0.1", "--include-dashboard=true"])
        .arg(format!("--dashboard-port={dashboard}"))
        .arg(format!("--ray-client-server-port={}", free_port()))
        .args(["--num-cpus=3", "--num-gpus=1"])
        .arg(format!("--temp-dir={}", temp.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let head = Head { child: ray_env(&mut c).spawn().expect("ray start"), temp };
    let address = format!("http://127.0.0.1:{dashboard}");
    // Up when the jobs API answers.
    let up = || {
        let mut c = Command::new(&ray);
        c.args(["job", "list", "--address", &address]).stdout(Stdio::null()).stderr(Stdio::null());
        ray_env(&mut c).status().is_ok_and(|s| s.success())
    };
    while !up() {
        assert!(t0.elapsed() < Duration::from_secs(120), "the Ray head did not come up");
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!("ray head up in {:.1}s", t0.elapsed().as_secs_f64());

    let zoo = tmp.path().join("zoo");
    let mut a = strings(&["submit", &path_arg(&zoo), "--ray", &address, "--tasks", "3"]);
    a.extend(strings(&[
        "--gpus-per-task",
        "0.33",
        "--cpus-per-task",
        "1",
        "--device",
        "cpu",
        "--lease-secs",
        "2",
    ]));
    a.extend(overrides());
    let mut c = command(tmp.path(), &a);
    ray_env(&mut c).env("PHASEZOO_RAY", &ray);
    let r = run_command(c);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let jobs: Vec<String> =
        r.stdout.lines().filter_map(|l| l.strip_prefix("submitted ray job ")).map(str::to_string).collect();
    assert_eq!(jobs.len(), 3, "{}", r.stdout);

    let start = Instant::now();
    for job in &jobs {
        loop {
            let mut c = Command::new(&ray);
            c.args(["job", "status", job, "--address", &address]);
            let out = ray_env(&mut c).output().expect("ray job status");
            // "Job '<id>' succeeded" (Ray 2.60), "Status for job '<id>': SUCCEEDED" (older).
            let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
            if text.contains("succeeded") {
                break;
            }
            if text.contains("failed") || text.contains("stopped") {
                let mut c = Command::new(&ray);
                c.args(["job", "logs", job, "--address", &address]);
                let logs = ray_env(&mut c).output().expect("ray job logs");
                panic!("job {job}: {text}\n{}", String::from_utf8_lossy(&logs.stdout));
            }
            assert!(start.elapsed() < Duration::from_secs(300), "job {job} did not finish: {text}");
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    eprintln!("3 ray jobs finished in {:.1}s", start.elapsed().as_secs_f64());
    assert_trained_exactly_once(&zoo);
    assert_equal_to(&reference(tmp.path()), &zoo);
    drop(head);
}
