//! Ctrl-C for the long commands (`train`, `metrics`): the first stops the work at the next step,
//! keeping everything finished; the second exits at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A stop flag that the first Ctrl-C raises.
pub fn stop_on_ctrl_c() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\nphasezoo: stopping after the current step (Ctrl-C again to quit at once)");
    });
    stop
}
