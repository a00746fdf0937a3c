//! Token windows as tensors: a model's random training windows per (seed, step), fixed
//! evaluation windows evenly spaced over a split, and the loss and correct predictions of
//! logits on them.

use pz_data::text::{window_rng, TextError, TokenBatch, TokenFile};
use pz_models::gpt2::Gpt2;
use tch::{Device, Kind, Reduction, Tensor};

use crate::Error;

/// Inputs and targets `[N, T]` int64 of `N` windows of `T` tokens (targets: the inputs
/// shifted by one).
#[derive(Debug)]
pub(crate) struct Windows {
    pub(crate) inputs: Tensor,
    pub(crate) targets: Tensor,
}

impl Windows {
    /// The batch as tensors on `device`. To CUDA from pinned memory without blocking: a copy
    /// from pageable memory waits until the device has run everything queued before it, so
    /// every step would wait for the previous one; this one takes its turn on the stream while
    /// the host goes on launching kernels.
    pub(crate) fn of(batch: &TokenBatch, device: Device) -> Self {
        #[allow(clippy::cast_possible_wrap)]
        let shape = [batch.batch as i64, batch.context as i64];
        let tensor = |ids: &[i64]| {
            let host = Tensor::from_slice(ids).view(shape);
            if device.is_cuda() {
                pz_device::pin_memory(&host).to_device_(device, Kind::Int64, true, false)
            } else {
                host.to_device(device)
            }
        };
        Self { inputs: tensor(&batch.inputs), targets: tensor(&batch.targets) }
    }

    /// Windows.
    pub(crate) fn len(&self) -> i64 {
        self.inputs.size()[0]
    }

    /// Windows `start..start + n`.
    pub(crate) fn rows(&self, start: i64, n: i64) -> Self {
        Self { inputs: self.inputs.narrow(0, start, n), targets: self.targets.narrow(0, start, n) }
    }

    /// Consecutive runs of at most `chunk` windows (evaluation in pieces of a bounded size).
    pub(crate) fn chunks(&self, chunk: i64) -> Vec<Self> {
        let n = self.len();
        (0..n)
            .step_by(usize::try_from(chunk.max(1)).expect("positive"))
            .map(|s| self.rows(s, chunk.min(n - s)))
            .collect()
    }
}

/// The training windows of the model with `seed` at optimizer step `step`: drawn from its data
/// stream at that step alone ([`window_rng`]), so a resumed run draws exactly the same.
pub(crate) fn training_windows(
    file: &TokenFile,
    seed: u64,
    step: u64,
    batch: usize,
    context: usize,
    device: Device,
) -> Result<Windows, Error> {
    let drawn =
        file.windows(context, batch, &mut window_rng(seed, step)).map_err(|e| corpus_error(file, e))?;
    Ok(Windows::of(&drawn, device))
}

/// `n` windows whose starts are evenly spaced from the first start to the last of `file` (the
/// same for every model of a zoo: fixed evaluation data).
pub(crate) fn even_windows(
    file: &TokenFile,
    n: usize,
    context: usize,
    device: Device,
) -> Result<Windows, Error> {
    let last = file.len().saturating_sub(context + 1);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let starts: Vec<usize> = (0..n)
        .map(|i| if n == 1 { 0 } else { ((i as f64) * (last as f64) / ((n - 1) as f64)).round() as usize })
        .collect();
    let batch = file.windows_at(&starts, context).map_err(|e| corpus_error(file, e))?;
    Ok(Windows::of(&batch, device))
}

/// Windows whose logits `model` should compute at once, at most `cap`: on the CPU as many as
/// fit its chunk of logit rows (`Gpt2::logit_rows_at_once`, at least one window).
pub(crate) fn windows_at_once(model: &Gpt2, cap: i64) -> i64 {
    let context = model.config().context;
    model.logit_rows_at_once().map_or(cap, |rows| (rows / context).clamp(1, cap.max(1)))
}

/// A token-file error as the trainer's, naming the file.
pub(crate) fn corpus_error(file: &TokenFile, source: TextError) -> Error {
    Error::Corpus {
        what: format!("cannot read windows from {}", file.path().display()),
        source: Box::new(source),
    }
}

/// The summed cross-entropy (nats) and the number of correct argmax predictions of `logits`
/// `[N, T, V]` for `targets` `[N, T]`, as 0-dim float64 and int64 tensors on the device (no
/// host synchronization).
pub(crate) fn loss_sum_and_correct(logits: &Tensor, targets: &Tensor) -> (Tensor, Tensor) {
    let v = logits.size()[2];
    let flat = logits.reshape([-1, v]).to_kind(Kind::Float);
    let targets = targets.reshape([-1]);
    let loss =
        flat.cross_entropy_loss::<Tensor>(&targets, None, Reduction::Sum, -100, 0.0).to_kind(Kind::Double);
    let correct = flat.argmax(-1, false).eq_tensor(&targets).sum(Kind::Int64);
    (loss, correct)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(tokens: &[u32]) -> (tempfile::TempDir, TokenFile) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("val.bin");
        pz_data::text::write_token_file(&path, tokens).unwrap();
        let file = TokenFile::open(&path).unwrap();
        (dir, file)
    }

    #[test]
    fn even_windows_span_the_file_from_first_to_last_start() {
        let (_dir, f) = file(&(0..101).collect::<Vec<_>>());
        let w = even_windows(&f, 3, 10, Device::Cpu).unwrap();
        // Starts 0, 45, 90 (the last start is 101 − 11 = 90).
        let firsts = Vec::<i64>::try_from(w.inputs.select(1, 0)).unwrap();
        assert_eq!(firsts, [0, 45, 90]);
        assert!(w.targets.equal(&(&w.inputs + 1)));
        assert_eq!(w.chunks(2).iter().map(Windows::len).collect::<Vec<_>>(), [2, 1]);
        let err = even_windows(&f, 3, 200, Device::Cpu).unwrap_err().to_string();
        assert!(err.contains("cannot read windows from") && err.contains("val.bin"), "{err}");
    }

    #[test]
    fn the_loss_sum_and_correct_count_follow_their_definitions() {
        // Two positions, vocabulary 3: logits favour 2 then 0; targets 2 and 1.
        let logits = Tensor::from_slice(&[0.0f32, 0.0, 1.0, 1.0, 0.0, 0.0]).view([1, 2, 3]);
        let targets = Tensor::from_slice(&[2i64, 1]).view([1, 2]);
        let (loss, correct) = loss_sum_and_correct(&logits, &targets);
        let lse = (2.0f64 + 1f64.exp()).ln();
        assert!((loss.double_value(&[]) - ((lse - 1.0) + lse)).abs() < 1e-6);
        assert_eq!(correct.int64_value(&[]), 1);
    }
}
