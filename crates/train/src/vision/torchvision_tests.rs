//! [`Augmentation`] against torchvision, through the Python in `PZ_PYTHON` (skipped when it is
//! unset). Where torchvision is importable (the GPU machines have it) the real functions run, on
//! PIL images as PTMZ's datasets hand them out and on tensors; otherwise torchvision's tensor
//! rotation is rebuilt in the script from its source (`_get_inverse_affine_matrix`,
//! `_gen_affine_grid`, torchvision 0.26), so the sign and pixel-centre conventions are checked
//! on any machine with torch.

use std::process::Command;

use tch::{Device, Kind, Tensor};

use super::{augment_rng, Augmentation, BatchDraws};

const N: i64 = 32;
const SIDE: i64 = 32;

/// `[N, 3, 32, 32]` uint8 from i² mod 251 + 1: irregular, never 0 (so a fill is visible), and
/// written the same way in the scripts.
fn images() -> Tensor {
    let i = Tensor::arange(N * 3 * SIDE * SIDE, (Kind::Int64, Device::Cpu));
    ((&i * &i).remainder(251) + 1).to_kind(Kind::Uint8).view([N, 3, SIDE, SIDE])
}

const IMAGES_PY: &str = "x = torch.arange(32 * 3 * 32 * 32)\n\
                         x = ((x * x) % 251 + 1).to(torch.uint8).view(32, 3, 32, 32)\n";

/// PTMZ's CIFAR augmentation with mean 0 and std 1, so that 255·output gives back pixels.
fn augmentation() -> Augmentation {
    Augmentation { pad: 4, flip: true, rotate_degrees: 20.0, mean: vec![0.0; 3], std: vec![1.0; 3] }
}

/// Ours, as uint8 pixels, and the draws as Python literals `(offsets, flips, angles)`.
fn ours() -> (Tensor, [String; 3]) {
    let augmentation = augmentation();
    let draws: BatchDraws = augmentation.draw(32, &mut augment_rng(11, 0, 0));
    let got = (augmentation.apply(&images(), &draws) * 255.0).round().to_kind(Kind::Uint8);
    let flips = format!("{:?}", draws.flips).replace("true", "True").replace("false", "False");
    (got, [format!("{:?}", draws.crop_offsets), flips, format!("{:?}", draws.angles_degrees)])
}

/// The script's stdout, or `None` when there is no Python or it exits with 3 (a missing module).
fn run_python(script: &str) -> Option<String> {
    let python = std::env::var("PZ_PYTHON").ok()?;
    let out = Command::new(python).args(["-W", "ignore", "-c", script]).output().expect("run python");
    if out.status.code() == Some(3) {
        return None;
    }
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8(out.stdout).expect("utf-8"))
}

/// Parse one line of space-separated pixels into `[N, 3, 32, 32]`.
fn batch(line: &str) -> Tensor {
    let pixels: Vec<u8> = line.split_whitespace().map(|v| v.parse().expect("pixel")).collect();
    Tensor::from_slice(&pixels).view([N, 3, SIDE, SIDE])
}

fn count_differing(got: &Tensor, want: &Tensor) -> i64 {
    i64::try_from(got.ne_tensor(want).sum(Kind::Int64)).unwrap()
}

#[test]
fn matches_torchvision_tensor_rotation_rebuilt_from_its_source() {
    let (got, [offsets, flips, angles]) = ours();
    let script = format!(
        "import math, torch\n\
         def rotate(img, angle):\n\
         \x20   # F.rotate: _get_inverse_affine_matrix(centre, -angle, ...), then _FT.rotate\n\
         \x20   rot = math.radians(-angle)\n\
         \x20   a, b, c, d = math.cos(rot), -math.sin(rot), math.sin(rot), math.cos(rot)\n\
         \x20   m = [d, -b, 0.0, -c, a, 0.0]\n\
         \x20   h, w = img.shape[-2:]\n\
         \x20   theta = torch.tensor(m, dtype=torch.float32).reshape(1, 2, 3)\n\
         \x20   base = torch.empty(1, h, w, 3)\n\
         \x20   base[..., 0].copy_(torch.linspace(-w * 0.5 + 0.5, w * 0.5 - 0.5, steps=w))\n\
         \x20   base[..., 1].copy_(torch.linspace(-h * 0.5 + 0.5, h * 0.5 - 0.5, steps=h).unsqueeze_(-1))\n\
         \x20   base[..., 2].fill_(1)\n\
         \x20   scaled = theta.transpose(1, 2) / torch.tensor([0.5 * w, 0.5 * h])\n\
         \x20   grid = base.view(1, h * w, 3).bmm(scaled).view(1, h, w, 2)\n\
         \x20   out = torch.nn.functional.grid_sample(img[None].float(), grid, mode='nearest',\n\
         \x20                                         padding_mode='zeros', align_corners=False)\n\
         \x20   return out[0].round().to(torch.uint8)\n\
         {IMAGES_PY}\
         x = torch.nn.functional.pad(x, (4, 4, 4, 4))\n\
         outs = []\n\
         for img, (r, c), f, a in zip(x, {offsets}, {flips}, {angles}):\n\
         \x20   img = img[:, r:r + 32, c:c + 32]\n\
         \x20   outs.append(rotate(img.flip(-1) if f else img, a))\n\
         print(' '.join(str(v) for v in torch.stack(outs).flatten().tolist()))\n"
    );
    let Some(stdout) = run_python(&script) else { return };
    // The same grid up to float rounding: only a sample on a tie between two pixels could differ.
    let differing = count_differing(&got, &batch(&stdout));
    assert!(differing <= 3, "{differing} of {} values differ", got.numel());
}

#[test]
fn matches_torchvision_functional_on_pil_and_tensor_images() {
    let (got, [offsets, flips, angles]) = ours();
    let script = format!(
        "import sys, torch\n\
         try:\n\
         \x20   import numpy, PIL.Image\n\
         \x20   from torchvision.transforms import functional as F, InterpolationMode\n\
         except ImportError:\n\
         \x20   sys.exit(3)\n\
         {IMAGES_PY}\
         pil_outs, tensor_outs = [], []\n\
         for img, (r, c), f, a in zip(x, {offsets}, {flips}, {angles}):\n\
         \x20   # RandomCrop(32, padding=4), RandomHorizontalFlip(), RandomRotation(20) with the draws\n\
         \x20   p = PIL.Image.fromarray(img.permute(1, 2, 0).numpy())\n\
         \x20   p = F.crop(F.pad(p, 4, fill=0), r, c, 32, 32)\n\
         \x20   p = F.hflip(p) if f else p\n\
         \x20   p = F.rotate(p, a, InterpolationMode.NEAREST, False, None, 0)\n\
         \x20   pil_outs.append(F.pil_to_tensor(p))\n\
         \x20   t = F.crop(F.pad(img, 4, fill=0), r, c, 32, 32)\n\
         \x20   t = F.hflip(t) if f else t\n\
         \x20   tensor_outs.append(F.rotate(t, a, InterpolationMode.NEAREST, False, None, [0.0] * 3))\n\
         for outs in (pil_outs, tensor_outs):\n\
         \x20   print(' '.join(str(v) for v in torch.stack(outs).flatten().tolist()))\n"
    );
    let Some(stdout) = run_python(&script) else { return };
    let mut lines = stdout.lines();
    let (pil, tensor) = (batch(lines.next().expect("PIL line")), batch(lines.next().expect("tensor line")));
    let (vs_pil, vs_tensor) = (count_differing(&got, &pil), count_differing(&got, &tensor));
    // torchvision on tensors is our grid_sample to the rounding (0 of 98,304 values differed on
    // an H100 machine, torchvision 0.26). PIL rounds its matrix to 15 digits and floors where
    // torch rounds to nearest: a pixel whose sample lands within rounding of a pixel edge may
    // go either way (9 values, 3 pixels, there); allow 1 value in 2,000.
    assert!(vs_tensor <= 3, "{vs_tensor} of {} values differ from torchvision on tensors", got.numel());
    assert!(vs_pil <= got.numel() as i64 / 2000, "{vs_pil} of {} values differ from PIL", got.numel());
}
