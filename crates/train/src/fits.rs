//! Refusing a zoo its devices cannot hold, before anything is written (issue 17).
//!
//! The spec's estimate ([`pz_spec::largest_unit_bytes`]) is compared with the host's memory for
//! CPU devices; on a GPU, one allocation of the estimated size is tried and freed at once, so the
//! answer is the device's own (its total memory less what others hold), and an out-of-memory
//! becomes an error with the keys to shrink instead of a crash mid-training.

use pz_spec::{check_fits, host_memory_bytes, largest_unit_bytes, too_large, Plan};
use tch::{Device, Kind, Tensor};

/// Whether the largest training unit of `plan` fits every device in `devices`.
///
/// # Errors
/// A message naming the estimate, the device and the keys to shrink.
pub fn check_devices_hold(plan: &Plan, max_population: usize, devices: &[Device]) -> Result<(), String> {
    let need = largest_unit_bytes(plan, max_population);
    for &device in devices {
        match device {
            Device::Cuda(i) => {
                // Whole bytes, at least one, as one block: what the first population allocates.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let bytes = need.clamp(1.0, 9.0e18) as i64;
                if let Err(e) = Tensor::f_empty([bytes], (Kind::Uint8, device)) {
                    let first = e.to_string().lines().next().unwrap_or_default().to_string();
                    return Err(too_large(
                        plan,
                        max_population,
                        &format!("which cuda:{i} cannot allocate: {first}"),
                    ));
                }
            }
            _ => {
                if let Some(host) = host_memory_bytes() {
                    check_fits(plan, max_population, host, "host memory")?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(overrides: &[&str]) -> Plan {
        let o: Vec<String> = overrides.iter().map(|s| (*s).to_string()).collect();
        Plan::new(&pz_spec::ZooSpec::parse(pz_spec::EMBEDDED_DEFAULT, "t", &o).unwrap()).unwrap()
    }

    #[test]
    fn a_population_larger_than_the_host_is_refused_on_the_cpu() {
        assert!(check_devices_hold(&plan(&[]), 0, &[Device::Cpu]).is_ok());
        let err =
            check_devices_hold(&plan(&["model.hidden=[1000000, 1000000]"]), 0, &[Device::Cpu]).unwrap_err();
        assert!(err.contains("host memory") && err.contains("hint: shrink model.hidden"), "{err}");
    }
}
