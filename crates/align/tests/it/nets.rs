//! State dicts of the architectures with random values, names and shapes written from the
//! reference modules (crates/models, python/phasezoo_vision.py, Hugging Face's GPT-2); the
//! python tests check them against those modules' own `state_dict()`.

use pz_align::{StateDict, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Fills a state dict with uniform values from a seeded stream.
pub struct Filler {
    rng: ChaCha8Rng,
    pub state: StateDict,
}

impl Filler {
    pub fn new(seed: u64) -> Self {
        Self { rng: ChaCha8Rng::seed_from_u64(seed), state: StateDict::new() }
    }

    /// A tensor of uniform values in `[lo, hi)`.
    pub fn put(&mut self, name: &str, shape: &[usize], lo: f32, hi: f32) {
        let values = (0..shape.iter().product()).map(|_| self.rng.gen_range(lo..hi)).collect();
        self.state.insert(name.to_string(), Tensor::f32(shape, values));
    }

    /// Weights and biases scaled like a trained net's, so activations stay O(1).
    pub fn weight(&mut self, name: &str, shape: &[usize]) {
        #[allow(clippy::cast_precision_loss)]
        let bound = (3.0 / shape[1..].iter().product::<usize>().max(1) as f32).sqrt();
        self.put(name, shape, -bound, bound);
    }

    pub fn linear(&mut self, name: &str, d_out: usize, d_in: usize) {
        self.weight(&format!("{name}.weight"), &[d_out, d_in]);
        self.put(&format!("{name}.bias"), &[d_out], -0.5, 0.5);
    }

    pub fn batch_norm(&mut self, name: &str, c: usize) {
        self.put(&format!("{name}.weight"), &[c], 0.5, 1.5);
        self.put(&format!("{name}.bias"), &[c], -0.5, 0.5);
        self.put(&format!("{name}.running_mean"), &[c], -0.5, 0.5);
        self.put(&format!("{name}.running_var"), &[c], 0.5, 1.5);
        self.state.insert(format!("{name}.num_batches_tracked"), Tensor::i64(&[], vec![7]));
    }

    pub fn layer_norm(&mut self, name: &str, d: usize) {
        self.put(&format!("{name}.weight"), &[d], 0.5, 1.5);
        self.put(&format!("{name}.bias"), &[d], -0.5, 0.5);
    }
}

/// torchvision's ResNet-18 (`bottleneck = false`) or ResNet-50 with the CIFAR stem (3×3
/// conv, stride 1): crates/models/src/vision/resnet.rs `blocks` and `layout`.
pub fn resnet(bottleneck: bool, width: usize, in_channels: usize, classes: usize, seed: u64) -> StateDict {
    let (counts, expansion) = if bottleneck { ([3, 4, 6, 3], 4) } else { ([2, 2, 2, 2], 1) };
    let mut f = Filler::new(seed);
    f.weight("conv1.weight", &[width, in_channels, 3, 3]);
    f.batch_norm("bn1", width);
    let mut cin = width;
    for (stage, &n) in counts.iter().enumerate() {
        let planes = width << stage;
        let cout = planes * expansion;
        for b in 0..n {
            let p = format!("layer{}.{b}", stage + 1);
            let stride = if stage > 0 && b == 0 { 2 } else { 1 };
            let convs: Vec<[usize; 3]> = if bottleneck {
                vec![[cin, planes, 1], [planes, planes, 3], [planes, cout, 1]]
            } else {
                vec![[cin, planes, 3], [planes, planes, 3]]
            };
            for (i, [ci, co, k]) in convs.into_iter().enumerate() {
                f.weight(&format!("{p}.conv{}.weight", i + 1), &[co, ci, k, k]);
                f.batch_norm(&format!("{p}.bn{}", i + 1), co);
            }
            if stride != 1 || cin != cout {
                f.weight(&format!("{p}.downsample.0.weight"), &[cout, cin, 1, 1]);
                f.batch_norm(&format!("{p}.downsample.1"), cout);
            }
            cin = cout;
        }
    }
    f.linear("fc", classes, cin);
    f.state
}

/// The PINN MLP: `net.0`, `net.2`, … (crates/models/src/mlp.rs).
pub fn mlp(sizes: &[usize], seed: u64) -> StateDict {
    let mut f = Filler::new(seed);
    for (l, w) in sizes.windows(2).enumerate() {
        f.linear(&format!("net.{}", 2 * l), w[1], w[0]);
    }
    f.state
}

/// Sizes of the small transformers of the tests.
#[derive(Debug, Clone, Copy)]
pub struct Dims {
    pub width: usize,
    pub heads: usize,
    pub depth: usize,
}

/// torchvision's ViT at `image_size` 8, patch 4, MLP ratio 4, 3 channels, 10 classes
/// (crates/models/src/vision/vit.rs `layout`).
pub fn vit(d: Dims, seed: u64) -> StateDict {
    let mut f = Filler::new(seed);
    let w = d.width;
    f.put("class_token", &[1, 1, w], -0.5, 0.5);
    f.weight("conv_proj.weight", &[w, 3, 4, 4]);
    f.put("conv_proj.bias", &[w], -0.5, 0.5);
    f.put("encoder.pos_embedding", &[1, 5, w], -0.5, 0.5);
    for i in 0..d.depth {
        let b = format!("encoder.layers.encoder_layer_{i}");
        f.layer_norm(&format!("{b}.ln_1"), w);
        f.weight(&format!("{b}.self_attention.in_proj_weight"), &[3 * w, w]);
        f.put(&format!("{b}.self_attention.in_proj_bias"), &[3 * w], -0.5, 0.5);
        f.linear(&format!("{b}.self_attention.out_proj"), w, w);
        f.layer_norm(&format!("{b}.ln_2"), w);
        f.linear(&format!("{b}.mlp.0"), 4 * w, w);
        f.linear(&format!("{b}.mlp.3"), w, 4 * w);
    }
    f.layer_norm("encoder.ln", w);
    f.linear("heads.head", 10, w);
    f.state
}

/// Hugging Face's GPT-2 with vocabulary 50 and context 8 (crates/models/src/gpt2/layout.rs;
/// `Conv1D` weights `[in, out]`; `lm_head.weight` tied to `transformer.wte.weight`).
pub fn gpt2(d: Dims, seed: u64) -> StateDict {
    let mut f = Filler::new(seed);
    let w = d.width;
    f.put("transformer.wte.weight", &[50, w], -0.5, 0.5);
    f.put("transformer.wpe.weight", &[8, w], -0.5, 0.5);
    let conv1d = |f: &mut Filler, name: &str, d_in: usize, d_out: usize| {
        f.put(&format!("{name}.weight"), &[d_in, d_out], -0.3, 0.3);
        f.put(&format!("{name}.bias"), &[d_out], -0.5, 0.5);
    };
    for i in 0..d.depth {
        let h = format!("transformer.h.{i}");
        f.layer_norm(&format!("{h}.ln_1"), w);
        conv1d(&mut f, &format!("{h}.attn.c_attn"), w, 3 * w);
        conv1d(&mut f, &format!("{h}.attn.c_proj"), w, w);
        f.layer_norm(&format!("{h}.ln_2"), w);
        conv1d(&mut f, &format!("{h}.mlp.c_fc"), w, 4 * w);
        conv1d(&mut f, &format!("{h}.mlp.c_proj"), 4 * w, w);
    }
    f.layer_norm("transformer.ln_f", w);
    let wte = f.state["transformer.wte.weight"].clone();
    f.state.insert("lm_head.weight".into(), wte);
    f.state
}
