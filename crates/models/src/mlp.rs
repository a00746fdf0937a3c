//! A population of K multilayer perceptrons with tanh, stored as stacked weights.
//!
//! # Shapes
//! Layer l maps `sizes[l] → sizes[l+1]`. Stacked weight `[K, in, out]` (so a layer is one
//! `baddbmm` over `[K, P, in]` inputs), stacked bias `[K, 1, out]`.
//!
//! # Names
//! The reference module is `torch.nn.Sequential(Linear, Tanh, Linear, Tanh, …, Linear)` held as
//! attribute `net` (bench/pinn_reference.py): Linear layers are `net.0`, `net.2`, … with
//! PyTorch's `weight [out, in]` and `bias [out]`.

use pz_store::NamedTensor;
use rand_distr::{Distribution, Normal};
use tch::{Device, Kind, Tensor};

use crate::{member_rng, tensor_from_named, tensor_to_named, Error, Stream};

/// K MLPs of identical shapes.
#[derive(Debug)]
pub struct MlpPopulation {
    /// Layer widths, input first: e.g. `[2, 50, 50, 50, 50, 1]`.
    pub sizes: Vec<usize>,
    /// Stacked parameters in state-dict order: weight 0, bias 0, weight 1, …; each a leaf that
    /// requires grad. Weights `[K, in, out]`, biases `[K, 1, out]`.
    pub params: Vec<Tensor>,
}

impl MlpPopulation {
    /// Initialize one member per seed: Xavier-normal weights (PyTorch `xavier_normal_`, gain 1)
    /// drawn from the seed's init stream in PyTorch's `[out, in]` order, zero biases.
    #[must_use]
    pub fn init(seeds: &[u64], sizes: &[usize], kind: Kind, device: Device) -> Self {
        let layers = sizes.len() - 1;
        let mut stacked: Vec<Vec<Tensor>> =
            (0..2 * layers).map(|_| Vec::with_capacity(seeds.len())).collect();
        for &seed in seeds {
            let mut rng = member_rng(seed, Stream::Init);
            for l in 0..layers {
                let (fan_in, fan_out) = (sizes[l], sizes[l + 1]);
                #[allow(clippy::cast_precision_loss)]
                let std = (2.0 / (fan_in + fan_out) as f64).sqrt();
                let normal = Normal::new(0.0, std).expect("std > 0");
                let w: Vec<f64> = (0..fan_in * fan_out).map(|_| normal.sample(&mut rng)).collect();
                let w = Tensor::from_slice(&w).reshape([fan_out as i64, fan_in as i64]).to_kind(kind);
                stacked[2 * l].push(w.tr());
                stacked[2 * l + 1].push(Tensor::zeros([1, fan_out as i64], (kind, Device::Cpu)));
            }
        }
        let params = stacked
            .iter()
            .map(|members| Tensor::stack(members, 0).to_device(device).set_requires_grad(true))
            .collect();
        Self { sizes: sizes.to_vec(), params }
    }

    /// Number of members K.
    #[must_use]
    pub fn len(&self) -> usize {
        usize::try_from(self.params[0].size()[0]).expect("non-negative")
    }

    /// Whether the population is empty (never, once built).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `[K, P, in] → [K, P, out]`, tanh after every layer but the last.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        Self::forward_with(&self.params, x)
    }

    /// [`MlpPopulation::forward`] with other stacked parameters of the same layout (a point on a
    /// curve between members, a perturbed copy).
    pub fn forward_with(params: &[Tensor], x: &Tensor) -> Tensor {
        Self::hidden_and_output(params, x).1
    }

    /// The last hidden layer's activations `[K, P, w]` and the outputs `[K, P, out]`.
    pub fn hidden_and_output(params: &[Tensor], x: &Tensor) -> (Tensor, Tensor) {
        let layers = params.len() / 2;
        let mut hidden = x.shallow_clone();
        for l in 0..layers - 1 {
            hidden = params[2 * l + 1].baddbmm(&hidden, &params[2 * l], 1.0, 1.0).tanh();
        }
        let out = params[2 * layers - 1].baddbmm(&hidden, &params[2 * layers - 2], 1.0, 1.0);
        (hidden, out)
    }

    /// State-dict names, in `params` order.
    #[must_use]
    pub fn names(&self) -> Vec<String> {
        (0..self.sizes.len() - 1)
            .flat_map(|l| [format!("net.{}.weight", 2 * l), format!("net.{}.bias", 2 * l)])
            .collect()
    }

    /// Member `k` of stacked tensors laid out like `params` (parameters, or optimizer state of
    /// the same shapes), in PyTorch's layout, named `prefix + name`.
    #[must_use]
    pub fn export_member(&self, stacked: &[Tensor], k: usize, prefix: &str) -> Vec<NamedTensor> {
        let k = i64::try_from(k).expect("small");
        self.names()
            .iter()
            .zip(stacked)
            .enumerate()
            .map(|(i, (name, t))| {
                let member = t.get(k);
                let member = if i % 2 == 0 { member.tr() } else { member.squeeze_dim(0) };
                tensor_to_named(&format!("{prefix}{name}"), &member)
            })
            .collect()
    }

    /// Copy a member's tensors (PyTorch layout, names `prefix + name`) into slot `k` of
    /// `stacked`, checking names, shapes and dtypes first.
    ///
    /// # Errors
    /// [`Error::Mismatch`] naming the tensor, expected and got.
    pub fn import_member(
        &self,
        stacked: &mut [Tensor],
        k: usize,
        prefix: &str,
        tensors: &[NamedTensor],
        model: &str,
    ) -> Result<(), Error> {
        let mismatch = |message: String| Error::Mismatch { model: model.to_string(), message };
        let names = self.names();
        if tensors.len() != names.len() {
            return Err(mismatch(format!(
                "expected {} tensors named {prefix}*, got {}",
                names.len(),
                tensors.len()
            )));
        }
        let k = i64::try_from(k).expect("small");
        for (i, (name, slot)) in names.iter().zip(stacked.iter_mut()).enumerate() {
            let full = format!("{prefix}{name}");
            let t = tensors
                .iter()
                .find(|t| t.name == full)
                .ok_or_else(|| mismatch(format!("no tensor `{full}`")))?;
            let value =
                tensor_from_named(t).ok_or_else(|| mismatch(format!("`{full}` has dtype {:?}", t.dtype)))?;
            let value = if i % 2 == 0 { value.tr() } else { value.unsqueeze(0) };
            let mut target = slot.get(k);
            if value.size() != target.size() || value.kind() != target.kind() {
                return Err(mismatch(format!(
                    "`{full}`: expected {:?} {:?} (after layout change), got {:?} {:?}",
                    target.kind(),
                    target.size(),
                    value.kind(),
                    value.size()
                )));
            }
            tch::no_grad(|| target.copy_(&value));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_do_not_depend_on_the_population_they_are_in() {
        let sizes = [2, 5, 3, 1];
        let alone = MlpPopulation::init(&[7], &sizes, Kind::Double, Device::Cpu);
        let crowd = MlpPopulation::init(&[1, 7, 9], &sizes, Kind::Double, Device::Cpu);
        let x = Tensor::randn([1, 4, 2], (Kind::Double, Device::Cpu));
        let y_alone = alone.forward(&x);
        let y_crowd = crowd.forward(&x.expand([3, 4, 2], false)).get(1).unsqueeze(0);
        assert_eq!(f64::try_from((y_alone - y_crowd).abs().max()).unwrap(), 0.0);
    }

    #[test]
    fn forward_matches_a_per_member_reference_in_pytorch_layout() {
        let sizes = [2, 4, 1];
        let pop = MlpPopulation::init(&[3, 4], &sizes, Kind::Double, Device::Cpu);
        let x = Tensor::randn([2, 6, 2], (Kind::Double, Device::Cpu));
        let y = pop.forward(&x);
        for k in 0..2 {
            let st = pop.export_member(&pop.params, k, "");
            let get = |n: &str| tensor_from_named(st.iter().find(|t| t.name == n).unwrap()).unwrap();
            // PyTorch: y = W2 tanh(W0 x + b0) + b2 with W [out, in].
            let h = (x.get(k as i64).matmul(&get("net.0.weight").tr()) + get("net.0.bias")).tanh();
            let r = h.matmul(&get("net.2.weight").tr()) + get("net.2.bias");
            assert!(f64::try_from((r - y.get(k as i64)).abs().max()).unwrap() < 1e-12);
        }
        assert_eq!(st_names(&pop), ["net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias"]);
    }

    fn st_names(pop: &MlpPopulation) -> Vec<String> {
        pop.names()
    }

    #[test]
    fn export_import_round_trips_and_checks_shapes() {
        let sizes = [2, 4, 1];
        let a = MlpPopulation::init(&[1, 2], &sizes, Kind::Float, Device::Cpu);
        let mut b = MlpPopulation::init(&[5, 6], &sizes, Kind::Float, Device::Cpu);
        let member = a.export_member(&a.params, 1, "");
        let mut params = std::mem::take(&mut b.params);
        b.import_member(&mut params, 0, "", &member, "m").unwrap();
        b.params = params;
        assert_eq!(b.export_member(&b.params, 0, ""), member);
        let mut bad = member.clone();
        bad[0].shape = vec![2, 4];
        let mut params = std::mem::take(&mut b.params);
        let err = b.import_member(&mut params, 0, "", &bad, "m").unwrap_err().to_string();
        assert!(err.contains("net.0.weight"), "{err}");
    }

    #[test]
    fn init_is_xavier_normal() {
        let pop = MlpPopulation::init(&(0..64).collect::<Vec<_>>(), &[50, 50, 1], Kind::Double, Device::Cpu);
        let std = f64::try_from(pop.params[0].std(true)).unwrap();
        assert!((std - (2.0f64 / 100.0).sqrt()).abs() < 0.005, "{std}");
        assert_eq!(f64::try_from(pop.params[1].abs().max()).unwrap(), 0.0);
    }
}
