//! Modular-arithmetic models behind [`MeasuredPopulation`]: the members stacked (a lone member
//! beside a copy of itself, see crate::measured), their Hessians on the mean cross-entropy over
//! their own training pairs (`""`) and validation pairs (`"_val"`), CKA on the decoder's last
//! hidden layer (`metrics.cka.layer = "hidden"`; the transformer's final hidden state at `=`
//! after ln_f) or its logits (`"output"`) over all p² pairs, the same inputs for every member.
//! Mode connectivity is not measured for this family.

use pz_spec::{CkaConfig, CkaLayer, PlannedModel};
use pz_store::{CheckpointLayout, ZooDir};
use tch::{Device, Kind, Tensor};

use super::training::ModArithTraining;
use crate::measured::{CurveProblem, LossGraph, MeasuredPopulation};
use crate::population::Population;
use crate::{checkpoint_as, Error};

/// Stacked members loaded at one epoch.
pub(super) struct ModArithMeasured {
    /// The rows: the members, and a copy of a lone one.
    pop: ModArithTraining,
    members: usize,
}

impl ModArithMeasured {
    /// `models` at `epoch` from their checkpoints, each checked against the tensors its model
    /// has before anything is copied.
    pub(super) fn load(
        zoo: &ZooDir,
        models: &[PlannedModel],
        epoch: u32,
        device: Device,
    ) -> Result<Self, Error> {
        let mut rows = models.to_vec();
        if rows.len() == 1 {
            rows.push(rows[0].clone());
        }
        let configs: Vec<_> = rows.iter().map(|m| &m.config).collect();
        let mut pop = ModArithTraining::new(&configs, device);
        for (k, m) in rows.iter().enumerate() {
            let (model, optimizer) = pop.export(k);
            let checkpoint = checkpoint_as(zoo, m, epoch, &CheckpointLayout::exactly(&model, &optimizer))?;
            pop.restore(k, &checkpoint, m.id().as_str())?;
        }
        Ok(Self { pop, members: models.len() })
    }
}

impl MeasuredPopulation for ModArithMeasured {
    fn members(&self) -> usize {
        self.members
    }

    fn hessian_groups(&self) -> Vec<Vec<usize>> {
        vec![if self.members == 1 { vec![0, 0] } else { (0..self.members).collect() }]
    }

    fn loss_graph(&self, _group: usize, set: usize) -> Result<LossGraph, Error> {
        let params = self.pop.net.params();
        let losses = vec![(1.0, self.pop.net.losses_at(&params, set == 1))];
        Ok(LossGraph { params, stacked: true, losses })
    }

    /// Each row's own training (or validation) pairs: rows of different train fractions
    /// count differently.
    fn loss_samples(&self, _group: usize, set: usize) -> Vec<usize> {
        let table = &self.pop.net.table;
        let mask = if set == 1 { &table.val_mask } else { &table.train_mask };
        let counts =
            Vec::<f64>::try_from(mask.sum_dim_intlist(1, false, Kind::Double).to_device(Device::Cpu))
                .unwrap_or_default();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        counts.into_iter().map(|n| n.round() as usize).collect()
    }

    fn representations(&self, cka: &CkaConfig) -> Result<Vec<Vec<Tensor>>, Error> {
        let net = &self.pop.net;
        let reps = tch::no_grad(|| {
            let (hidden, out) = net.hidden_and_logits_at(&net.params());
            if cka.layer == CkaLayer::Hidden {
                hidden
            } else {
                out
            }
        })
        .to_kind(Kind::Double)
        .to_device(Device::Cpu);
        #[allow(clippy::cast_possible_wrap)]
        Ok((0..self.members).map(|k| vec![reps.get(k as i64)]).collect())
    }

    fn curves(&self, _pairs: &[(usize, usize)]) -> Result<Box<dyn CurveProblem + '_>, Error> {
        Err(Error::Config("mode connectivity is not measured for modular-arithmetic zoos".into()))
    }
}
