//! Which device a run asks for, as text (`auto`, `cpu`, `cuda`, `cuda:N`).

use std::fmt;
use std::str::FromStr;

/// A device request; the runner turns it into a libtorch device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceRequest {
    /// CUDA when a GPU is visible, else CPU.
    Auto,
    /// The CPU.
    Cpu,
    /// Every visible GPU (`None`) or one (`Some(n)`).
    Cuda(Option<usize>),
}

impl DeviceRequest {
    /// Parse `auto`, `cpu`, `cuda` or `cuda:N`.
    ///
    /// # Errors
    /// Anything else, with a message saying what is accepted.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(None)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(|n| Self::Cuda(Some(n)))
                .ok_or_else(|| format!("`{other}` is not a device")),
        }
    }
}

impl FromStr for DeviceRequest {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s)
    }
}

impl fmt::Display for DeviceRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(None) => f.write_str("cuda"),
            Self::Cuda(Some(n)) => write!(f, "cuda:{n}"),
        }
    }
}
