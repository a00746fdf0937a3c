//! The seam for scoring a model at weights that are not one of its checkpoints (SPEC §5:
//! averages over epochs or seeds, interpolations, aligned copies, ensembles): what
//! [`crate::ZooFamily::evaluate_weights`] takes and gives, the same for every family. Image
//! zoos implement it (classify/apply.rs).

use pz_store::NamedTensor;

/// The original's cap on conditioning batches (`condition_bn.py`: 100 forward passes).
pub const PTMZ_PASSES: usize = 100;

/// Where BatchNorm's running statistics come from before weights are scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BnConditioning {
    /// Reset, then the exact average over one pass of the training set (phasezoo's default).
    #[default]
    Recompute,
    /// The original's: train mode at momentum 0.1 from the weights' own statistics, at most
    /// [`PTMZ_PASSES`] batches of the model's batch size.
    PtmzCompat,
    /// The statistics the weights carry, untouched.
    Keep,
}

/// What [`crate::ZooFamily::evaluate_weights`] scores.
#[derive(Debug, Clone, Copy)]
pub struct WeightsRequest<'a> {
    /// State dicts with the model's checkpoint names, dtypes and shapes.
    pub weights: &'a [Vec<NamedTensor>],
    /// How BatchNorm statistics are set for each.
    pub conditioning: BnConditioning,
    /// Also score the weights as one ensemble (mean of the members' softmax probabilities).
    pub ensemble: bool,
}

/// What [`crate::ZooFamily::finetune`] transfers: one model's weights to the target data.
#[derive(Debug, Clone, Copy)]
pub struct FinetuneRequest<'a> {
    /// The model's state dict (checkpoint names, dtypes and shapes).
    pub weights: &'a [NamedTensor],
    /// The target dataset, loaded (`ZooData::Images` for image zoos).
    pub target: &'a crate::ZooData,
    /// The `[finetune]` settings.
    pub config: &'a pz_spec::FinetuneConfig,
    /// `true`: only the re-initialised head is trained (linear probe); `false`: everything.
    pub probe: bool,
}

/// Mean loss and accuracy on the training and test sets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scores {
    /// Mean cross-entropy on the (augmented) training set, eval mode.
    pub train_loss: f64,
    /// Fraction correct on the training set.
    pub train_acc: f64,
    /// Mean cross-entropy on the test set.
    pub test_loss: f64,
    /// Fraction correct on the test set.
    pub test_acc: f64,
}

/// Scores of each set of weights, in order, and of the ensemble when asked.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightScores {
    /// One per state dict.
    pub members: Vec<Scores>,
    /// The ensemble's: loss = NLL of the mean probabilities, accuracy of their argmax.
    pub ensemble: Option<Scores>,
}
