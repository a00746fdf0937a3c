//! What a caught panic can leave behind on a thread, and putting it back.
//!
//! libtorch errors (CUDA out of memory, a refused operation) arrive in Rust as panics, which the
//! training run catches per unit and then goes on with the next unit on the same thread. tch's
//! `no_grad` turns gradient tracking off, runs its closure and turns it back on without a guard,
//! so a panic inside it leaves the thread with gradients off, and every later model trained on
//! that thread failed with "element 0 of tensors does not require grad and does not have a
//! grad_fn" (the GPU Shakespeare zoo of 2026-12-07: two models out of memory, then eight more
//! on the same thread). Autocast regions (`with_bf16_autocast`) leave on a guard already.

/// Turns gradient tracking back on for this thread (libtorch's default), as it must be before
/// the next unit trains after a caught panic.
pub fn restore_grad_mode() {
    // SAFETY: an integer argument; the call only sets a thread-local flag (the C wrapper
    // catches every exception).
    unsafe {
        torch_sys::at_grad_set_enabled(1);
    }
}

#[cfg(test)]
mod tests {
    use tch::{Kind, Tensor};

    use super::restore_grad_mode;

    /// Whether an operation on a leaf that requires grad records a graph on this thread.
    fn grad_is_on() -> bool {
        let leaf = Tensor::ones([2], (Kind::Float, tch::Device::Cpu)).set_requires_grad(true);
        (&leaf * 2.0).requires_grad()
    }

    #[test]
    fn a_panic_inside_no_grad_leaves_gradients_off_until_restored() {
        assert!(grad_is_on());
        let caught = std::panic::catch_unwind(|| tch::no_grad(|| panic!("out of memory, say")));
        assert!(caught.is_err());
        // tch's no_grad has no guard: this is the state the next unit would train in.
        assert!(!grad_is_on(), "tch::no_grad restored the grad mode on panic: restore_grad_mode may go");
        restore_grad_mode();
        assert!(grad_is_on());
    }
}
