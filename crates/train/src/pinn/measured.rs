//! PINN models behind [`MeasuredPopulation`]: the members stacked into one population (a lone
//! member beside a copy of itself, see crate::measured), measured on the PINN loss (collocation,
//! initial and boundary terms, with their input derivatives) and on the evaluation grid.

use pz_spec::{CkaConfig, CkaLayer, PlannedModel, ResolvedModel};
use pz_store::ZooDir;
use tch::{Device, Kind, Tensor};

use super::PinnPopulation;
use crate::measured::{CurveProblem, LossGraph, MeasuredPopulation};
use crate::{load_population, Error};

/// Stacked PINN members loaded at one epoch.
pub(super) struct PinnMeasured {
    /// The rows: the members, and a copy of a lone one.
    pop: PinnPopulation,
    /// The rows' configs (a curve of a pair is trained on its first endpoint's problem).
    configs: Vec<ResolvedModel>,
    members: usize,
    device: Device,
}

impl PinnMeasured {
    /// `models` at `epoch` from their checkpoints.
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
        let pop = load_population(zoo, &rows, epoch, device)?;
        Ok(Self { pop, configs: rows.into_iter().map(|m| m.config).collect(), members: models.len(), device })
    }
}

impl MeasuredPopulation for PinnMeasured {
    fn members(&self) -> usize {
        self.members
    }

    /// The PINN loss on the member's own collocation points (its "test set" is the exact
    /// solution's grid, which has no loss with a Hessian of interest).
    fn loss_sets(&self) -> &'static [&'static str] {
        &[""]
    }

    fn hessian_groups(&self) -> Vec<Vec<usize>> {
        vec![if self.members == 1 { vec![0, 0] } else { (0..self.members).collect() }]
    }

    fn loss_graph(&self, _group: usize, _set: usize) -> Result<LossGraph, Error> {
        let params: Vec<Tensor> = self.pop.params().iter().map(Tensor::shallow_clone).collect();
        // The PINN loss holds input derivatives: the HVP differentiates it twice more.
        let losses = vec![(1.0, self.pop.losses_at(&params))];
        Ok(LossGraph { params, stacked: true, losses })
    }

    /// The collocation points (the residual's mean; the initial and boundary terms are
    /// fixed, smaller sets), the same for every row.
    fn loss_samples(&self, _group: usize, _set: usize) -> Vec<usize> {
        vec![self.pop.collocation_points(); self.hessian_groups()[0].len()]
    }

    fn representations(&self, cka: &CkaConfig) -> Result<Vec<Vec<Tensor>>, Error> {
        let reps = self
            .pop
            .representations(cka.layer == CkaLayer::Hidden)
            .to_kind(Kind::Double)
            .to_device(Device::Cpu);
        #[allow(clippy::cast_possible_wrap)]
        Ok((0..self.members).map(|k| vec![reps.get(k as i64)]).collect())
    }

    fn curves(&self, pairs: &[(usize, usize)]) -> Result<Box<dyn CurveProblem + '_>, Error> {
        let mut rows = pairs.to_vec();
        if rows.len() == 1 {
            rows.push(rows[0]); // a lone pair beside a copy of itself (crate::measured)
        }
        let pick = |idx: Vec<i64>| -> Vec<Tensor> {
            let idx = Tensor::from_slice(&idx).to_device(self.device);
            self.pop.params().iter().map(|p| p.detach().index_select(0, &idx)).collect()
        };
        #[allow(clippy::cast_possible_wrap)]
        let (theta0, theta2) = (
            pick(rows.iter().map(|p| p.0 as i64).collect()),
            pick(rows.iter().map(|p| p.1 as i64).collect()),
        );
        // A pair's curve is trained and scored on its first endpoint's problem (its own
        // collocation points and β; β is the cell's, so both ends share it).
        let owners: Vec<&ResolvedModel> = rows.iter().map(|p| &self.configs[p.0]).collect();
        let problem = PinnPopulation::new(&owners, self.device);
        Ok(Box::new(PinnCurves { rows, theta0, theta2, problem }))
    }
}

/// Curves between stacked PINN pairs.
struct PinnCurves {
    rows: Vec<(usize, usize)>,
    theta0: Vec<Tensor>,
    theta2: Vec<Tensor>,
    problem: PinnPopulation,
}

impl CurveProblem for PinnCurves {
    fn rows(&self) -> &[(usize, usize)] {
        &self.rows
    }

    fn endpoints(&self) -> (&[Tensor], &[Tensor]) {
        (&self.theta0, &self.theta2)
    }

    fn loss(&self, phi: &[Tensor]) -> Tensor {
        self.problem.losses_at(phi)
    }

    fn evaluate(&self, phi: &[Tensor]) -> Vec<Tensor> {
        // The PINN loss needs input gradients: autograd back on inside the caller's no_grad.
        let train_loss = tch::with_grad(|| self.problem.losses_at(phi).detach());
        let eval = self.problem.evaluate_at(phi);
        vec![train_loss, Tensor::from_slice(&eval.test_loss), Tensor::from_slice(&eval.test_error)]
    }
}
