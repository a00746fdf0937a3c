//! The devices a `--device` request means on this machine.

use anyhow::{bail, Result};
use pz_spec::DeviceRequest;
use tch::Device;

/// The devices of `--device` when given, else of the spec's `run.device` (`spec_device`).
pub fn requested(arg: Option<&str>, spec_device: &str) -> Result<Vec<Device>> {
    devices(DeviceRequest::parse(arg.unwrap_or(spec_device)).map_err(anyhow::Error::msg)?)
}

/// `cuda` = every visible GPU; `cuda:N` = that one (checked); `auto` = the first GPU or the CPU.
pub fn devices(request: DeviceRequest) -> Result<Vec<Device>> {
    let visible = usize::try_from(tch::Cuda::device_count()).unwrap_or(0);
    match request {
        DeviceRequest::Cuda(_) if visible == 0 => {
            bail!("--device {request}: no CUDA device is visible\n  hint: use --device cpu, or check nvidia-smi")
        }
        DeviceRequest::Cuda(None) => Ok((0..visible).map(Device::Cuda).collect()),
        DeviceRequest::Cuda(Some(n)) if n >= visible => {
            bail!(
                "--device cuda:{n}: only {visible} CUDA device(s) visible\n  hint: use cuda:0 .. cuda:{}",
                visible - 1
            )
        }
        other => Ok(vec![pz_train::resolve_device(other)]),
    }
}
