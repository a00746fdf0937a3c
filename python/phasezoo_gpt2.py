"""Hugging Face reference for phasezoo's GPT-2 checkpoints (crates/models/src/gpt2/).

A phasezoo GPT-2 `model.safetensors` is the state dict of `transformers.GPT2LMHeadModel` with
GPT-2's own layer types: pre-LayerNorm blocks (eps 1e-5), `gelu_new` (GELU, tanh form), learned
positions, `lm_head.weight` tied to `transformer.wte.weight`, and no dropout.

    python python/phasezoo_gpt2.py --vocab-size 50257 --context 1024 --model-dim 768 --depth 12 \
        --heads 12 --weights model.safetensors --input input.safetensors

builds that model, loads the weights with `load_state_dict(strict=True)`, runs the int64 tensor
"tokens" (N, T) of the input file through it in eval mode with `labels=tokens`, and prints one
JSON line {"keys": [state-dict keys in order], "tied": lm_head is wte after loading,
"logits": [[[...]]] (N, T, V), "loss": mean cross-entropy of predicting tokens[:, 1:] from
tokens[:, :-1] (Hugging Face shifts the labels itself), "transformers": its version}.
Safetensors files are read by their format (no code is executed).
"""
import argparse
import json

import torch
import transformers
from transformers import GPT2Config, GPT2LMHeadModel

from phasezoo_pinn import load_safetensors

# GPT-2's <|endoftext|>; a smaller test vocabulary has no such token.
END_OF_TEXT = 50256


def build(args):
    eot = END_OF_TEXT if args.vocab_size > END_OF_TEXT else None
    config = GPT2Config(
        vocab_size=args.vocab_size,
        n_positions=args.context,
        n_embd=args.model_dim,
        n_layer=args.depth,
        n_head=args.heads,
        activation_function="gelu_new",
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        layer_norm_epsilon=1e-5,
        tie_word_embeddings=True,
        bos_token_id=eot,
        eos_token_id=eot,
    )
    return GPT2LMHeadModel(config)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--vocab-size", type=int, required=True)
    p.add_argument("--context", type=int, required=True, help="n_positions")
    p.add_argument("--model-dim", type=int, required=True, help="n_embd")
    p.add_argument("--depth", type=int, required=True, help="n_layer")
    p.add_argument("--heads", type=int, required=True, help="n_head")
    p.add_argument("--weights", required=True, help="model.safetensors (phasezoo GPT-2 state dict)")
    p.add_argument("--input", required=True, help="safetensors file with an int64 tensor 'tokens' (N, T)")
    args = p.parse_args()
    state = load_safetensors(args.weights)
    dtype = state["transformer.wte.weight"].dtype  # float32 or float64 zoo
    model = build(args).to(dtype)
    model.load_state_dict(state, strict=True)
    model.eval()
    tokens = load_safetensors(args.input)["tokens"]
    with torch.no_grad():
        out = model(input_ids=tokens, labels=tokens)
    print(json.dumps({
        "keys": list(model.state_dict().keys()),
        "tied": model.lm_head.weight is model.transformer.wte.weight,
        "logits": out.logits.tolist(),
        "loss": out.loss.item(),
        "transformers": transformers.__version__,
    }))


if __name__ == "__main__":
    main()
