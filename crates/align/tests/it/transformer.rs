//! ViT and GPT-2: heads and MLP units as groups, recovered from a permuted copy.

use pz_align::{gpt2_spec, vit_spec, Error};

use crate::assert_alignment_undoes_a_random_permutation;
use crate::nets::{gpt2, vit, Dims};

const DIMS: Dims = Dims { width: 32, heads: 4, depth: 2 };

#[test]
fn aligning_a_permuted_vit_recovers_heads_and_mlp_units_bit_for_bit() {
    let state = vit(DIMS, 6);
    let spec = vit_spec(&state, DIMS.heads).unwrap();
    let names: Vec<&str> = spec.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(
        names,
        ["encoder_layer_0.heads", "encoder_layer_0.mlp", "encoder_layer_1.heads", "encoder_layer_1.mlp"]
    );
    assert_eq!(spec.groups[1].size, 4 * DIMS.width);
    assert_alignment_undoes_a_random_permutation(&spec, &state, 31);
}

#[test]
fn aligning_a_permuted_gpt2_recovers_heads_and_mlp_units_bit_for_bit() {
    let state = gpt2(DIMS, 7);
    let spec = gpt2_spec(&state, DIMS.heads).unwrap();
    assert_eq!(spec.get("h.1.attn").unwrap().size, DIMS.heads);
    assert_alignment_undoes_a_random_permutation(&spec, &state, 32);
}

#[test]
fn heads_that_do_not_divide_the_width_are_refused() {
    assert!(matches!(vit_spec(&vit(DIMS, 6), 5), Err(Error::UnknownLayout { .. })));
    assert!(matches!(gpt2_spec(&gpt2(DIMS, 6), 0), Err(Error::UnknownLayout { .. })));
}
