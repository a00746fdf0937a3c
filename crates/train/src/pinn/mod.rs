//! The PINN family: K MLPs on the 1-D convection problem (Krishnapriyan et al. 2021), stacked
//! into one population that trains in lockstep with batched Adam.
//!
//! - `convection`: the problem per member (points, loss with input derivatives, evaluation).
//! - `population`: [`PinnPopulation`], the stacked networks, their step (CUDA graph, fused
//!   kernels) and checkpoint export/import.
//! - `training`: the population behind the [`crate::Population`] seam.
//! - `group`: which planned models can share a population.
//! - `measured`: trained members loaded behind [`crate::MeasuredPopulation`] (the metrics).
//! - `family`: the family behind [`crate::ZooFamily`] (units, costs, training a unit).

mod convection;
mod family;
mod group;
mod measured;
mod population;
mod training;

pub use family::{train_population, PinnFamily};
pub use group::group_populations;
#[cfg(test)]
pub(crate) use population::to_vec;
pub use population::{Evaluation, PinnPopulation};
pub(crate) use training::PinnTraining;
