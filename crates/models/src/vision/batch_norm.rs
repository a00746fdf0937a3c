//! `nn.BatchNorm2d` with PyTorch's `num_batches_tracked` buffer, which tch's `BatchNorm` lacks.
//!
//! PyTorch needs the buffer for a strict `load_state_dict` and increments it on every
//! training-mode forward. With momentum 0.1 it does not enter the running-stat update (it only
//! does for `momentum=None`), so here it is a counter kept beside tch's layer.

use tch::nn::{self, ModuleT};
use tch::{Kind, Tensor};

use super::init::PLACEHOLDER;

/// BatchNorm2d, eps 1e-5, momentum 0.1 (PyTorch's defaults, SPEC §1.2).
#[derive(Debug)]
pub(crate) struct BatchNorm2d {
    bn: nn::BatchNorm,
    num_batches_tracked: Tensor,
}

pub(crate) fn batch_norm2d(p: &nn::Path, c: i64) -> BatchNorm2d {
    let config = nn::BatchNormConfig {
        eps: 1e-5,
        momentum: 0.1,
        ws_init: PLACEHOLDER,
        bs_init: PLACEHOLDER,
        ..Default::default()
    };
    let bn = nn::batch_norm2d(p, c, config);
    let count = Tensor::zeros([], (Kind::Int64, p.device()));
    let num_batches_tracked = p.add("num_batches_tracked", count, false);
    BatchNorm2d { bn, num_batches_tracked }
}

impl ModuleT for BatchNorm2d {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        if train {
            // The counter shares storage with the var store's entry, so this in-place add is
            // what `state_dict` sees.
            let _ = self.num_batches_tracked.shallow_clone().g_add_scalar_(1);
        }
        self.bn.forward_t(xs, train)
    }
}
