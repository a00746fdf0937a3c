//! libtorch's Kineto profiler around a stretch of work (what `torch.profiler.profile` does in
//! Python): operators on the CPU and, on CUDA, every kernel with its duration, saved as a Chrome
//! trace (chrome://tracing, Perfetto, or `bench/trace_summary.py`). For finding where a
//! training step's time goes; it slows the profiled steps down.

use std::ffi::CString;
use std::path::Path;

use crate::ffi;

/// A running profiler; [`Profiler::save`] stops it and writes the trace.
#[derive(Debug)]
pub struct Profiler {
    saved: bool,
}

/// The profiler refusing to start or save, with libtorch's reason.
#[derive(Debug)]
pub struct ProfilerError(String);

impl std::fmt::Display for ProfilerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "libtorch profiler: {}", self.0)
    }
}

impl std::error::Error for ProfilerError {}

fn message(buffer: &[u8]) -> String {
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    String::from_utf8_lossy(&buffer[..end]).into_owned()
}

impl Profiler {
    /// Start recording this thread's operators, and CUDA kernels when `cuda`.
    ///
    /// # Errors
    /// libtorch refusing (a profiler already running on this thread, say).
    pub fn start(cuda: bool) -> Result<Self, ProfilerError> {
        let mut buffer = vec![0u8; 1024];
        // SAFETY: the buffer outlives the call and its length is passed with it; the C++ side
        // catches every exception.
        let failed = unsafe {
            ffi::pz_profiler_start(i32::from(cuda), buffer.as_mut_ptr().cast(), buffer.len() as i64)
        };
        if failed == 0 {
            Ok(Self { saved: false })
        } else {
            Err(ProfilerError(message(&buffer)))
        }
    }

    /// Stop recording and write the Chrome trace to `path`.
    ///
    /// # Errors
    /// A path that is not UTF-8 without NUL, or libtorch failing to write it.
    pub fn save(mut self, path: &Path) -> Result<(), ProfilerError> {
        self.saved = true;
        let path = path
            .to_str()
            .and_then(|p| CString::new(p).ok())
            .ok_or_else(|| ProfilerError(format!("{} is not a plain UTF-8 path", path.display())))?;
        let mut buffer = vec![0u8; 1024];
        // SAFETY: both buffers outlive the call; the C++ side catches every exception.
        let failed =
            unsafe { ffi::pz_profiler_stop(path.as_ptr(), buffer.as_mut_ptr().cast(), buffer.len() as i64) };
        if failed == 0 {
            Ok(())
        } else {
            Err(ProfilerError(message(&buffer)))
        }
    }
}

impl Drop for Profiler {
    fn drop(&mut self) {
        if !self.saved {
            // Stop without writing: a profiler left on would record for the rest of the run.
            let mut buffer = vec![0u8; 256];
            // SAFETY: an empty path is never written (the C++ side saves only on success of
            // disabling, and an empty path makes save fail, which it catches).
            let _ = unsafe {
                ffi::pz_profiler_stop(c"".as_ptr(), buffer.as_mut_ptr().cast(), buffer.len() as i64)
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind, Tensor};

    #[test]
    fn a_cpu_profile_is_a_chrome_trace_naming_the_operators_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trace.json");
        let profiler = Profiler::start(false).unwrap();
        let a = Tensor::ones([64, 64], (Kind::Float, Device::Cpu));
        let _ = a.matmul(&a).relu();
        profiler.save(&path).unwrap();
        let trace: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let names: Vec<&str> =
            trace["traceEvents"].as_array().unwrap().iter().filter_map(|e| e["name"].as_str()).collect();
        assert!(names.contains(&"aten::matmul"), "{names:?}");
        assert!(names.contains(&"aten::relu"), "{names:?}");
        // Stopped: a second profiler can start.
        let again = Profiler::start(false).unwrap();
        drop(again);
        assert!(Profiler::start(false).is_ok(), "dropping stops the profiler");
    }
}
