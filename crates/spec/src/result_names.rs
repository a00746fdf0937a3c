//! What a problem's `result.json` numbers mean, in words for plots and reports: a family's spec
//! variant says it, so that the report never asks which family a zoo is.

use crate::ProblemConfig;

/// Titles and units of a problem's `test_error` and `train_loss` panels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResultNames {
    /// Title of the test-error panel.
    pub error_title: &'static str,
    /// Unit of the test error.
    pub error_unit: &'static str,
    /// Title of the train-loss panel.
    pub loss_title: &'static str,
}

impl ProblemConfig {
    /// What `test_error` and `train_loss` are for this problem (docs/FORMAT.md, result.json).
    #[must_use]
    pub fn result_names(&self) -> ResultNames {
        match self {
            Self::Convection(_) => ResultNames {
                error_title: "final test error (relative L2), seed mean",
                error_unit: "relative L2 error",
                loss_title: "final train loss (PINN loss), seed mean",
            },
            Self::Image(_) => ResultNames {
                error_title: "final test error (1 - accuracy), seed mean",
                error_unit: "test error",
                loss_title: "final train loss (cross-entropy), seed mean",
            },
            Self::Text(_) => ResultNames {
                error_title: "final validation error (1 - next-token accuracy), seed mean",
                error_unit: "validation error",
                loss_title: "final train loss (nats per token), seed mean",
            },
            Self::ModArith(_) => ResultNames {
                error_title: "final validation error (1 - accuracy), seed mean",
                error_unit: "validation error",
                loss_title: "final train loss (cross-entropy), seed mean",
            },
        }
    }
}
