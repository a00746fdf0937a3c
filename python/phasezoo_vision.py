"""PyTorch reference for phasezoo's vision checkpoints (docs/MODELS.md).

Plain-PyTorch modules (no torchvision needed) whose state dicts are phasezoo's vision
`model.safetensors`, key for key:
- `resnet18(width, in_channels, classes)`, `resnet50(...)`: torchvision's ResNet with base width
  `width`, the CIFAR stem (3x3 conv, stride 1, no max-pool) of the PTMZ ResNet zoos.
- `VisionTransformer(...)`: torchvision's VisionTransformer layout (conv_proj, class_token,
  encoder.pos_embedding, encoder.layers.encoder_layer_{i}, encoder.ln, heads.head) at phasezoo's
  small sizes, with nn.MultiheadAttention.
Modules return logits; the original zoo applied log_softmax in its training wrapper.

    python python/phasezoo_vision.py --arch resnet18 --width 4 --in-channels 1 --classes 10 \
        --weights model.safetensors --input input.safetensors

loads the weights with `load_state_dict(strict=True)`, runs the tensor "images" of the input file
through the model in eval mode, and prints one JSON line {"keys": [state-dict keys in order],
"logits": [[...], ...]}. Safetensors files are read by their format (no code is executed).
"""
import argparse
import json
from collections import OrderedDict

import torch
from torch import nn

from phasezoo_pinn import load_safetensors


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample(inplanes, planes * self.expansion, stride)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """torchvision v1.5: the stride sits on the 3x3 conv."""

    expansion = 4

    def __init__(self, inplanes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample(inplanes, planes * self.expansion, stride)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


def downsample(inplanes, outplanes, stride):
    """1x1 conv + BN whenever the stride is not 1 or the channel count changes."""
    if stride == 1 and inplanes == outplanes:
        return None
    return nn.Sequential(nn.Conv2d(inplanes, outplanes, 1, stride, bias=False), nn.BatchNorm2d(outplanes))


class ResNet(nn.Module):
    def __init__(self, block, layers, width, in_channels, classes):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        inplanes = width
        for stage, n in enumerate(layers):
            planes, blocks = width * 2**stage, []
            for i in range(n):
                blocks.append(block(inplanes, planes, 2 if stage > 0 and i == 0 else 1))
                inplanes = planes * block.expansion
            setattr(self, f"layer{stage + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(inplanes, classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18(width, in_channels, classes):
    return ResNet(BasicBlock, [2, 2, 2, 2], width, in_channels, classes)


def resnet50(width, in_channels, classes):
    return ResNet(Bottleneck, [3, 4, 6, 3], width, in_channels, classes)


class EncoderBlock(nn.Module):
    """Pre-norm transformer block (torchvision's EncoderBlock without dropout)."""

    def __init__(self, hidden_dim, heads, mlp_dim):
        super().__init__()
        self.ln_1 = nn.LayerNorm(hidden_dim, eps=1e-6)
        self.self_attention = nn.MultiheadAttention(hidden_dim, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(hidden_dim, eps=1e-6)
        # torchvision's MLPBlock: Linear, GELU, Dropout, Linear, Dropout -> keys mlp.0, mlp.3
        self.mlp = nn.Sequential(
            nn.Linear(hidden_dim, mlp_dim), nn.GELU(), nn.Dropout(0.0), nn.Linear(mlp_dim, hidden_dim), nn.Dropout(0.0)
        )

    def forward(self, x):  # (N, T, d)
        y = self.ln_1(x)
        y, _ = self.self_attention(y, y, y, need_weights=False)
        x = x + y
        return x + self.mlp(self.ln_2(x))


class Encoder(nn.Module):
    def __init__(self, seq_length, depth, hidden_dim, heads, mlp_dim):
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.zeros(1, seq_length, hidden_dim))
        self.layers = nn.Sequential(
            OrderedDict((f"encoder_layer_{i}", EncoderBlock(hidden_dim, heads, mlp_dim)) for i in range(depth))
        )
        self.ln = nn.LayerNorm(hidden_dim, eps=1e-6)

    def forward(self, x):
        return self.ln(self.layers(x + self.pos_embedding))


class VisionTransformer(nn.Module):
    def __init__(self, image_size, patch_size, in_channels, classes, width, depth, head_dim, mlp_ratio):
        super().__init__()
        assert image_size % patch_size == 0 and width % head_dim == 0
        self.conv_proj = nn.Conv2d(in_channels, width, patch_size, patch_size)
        self.class_token = nn.Parameter(torch.zeros(1, 1, width))
        seq_length = (image_size // patch_size) ** 2 + 1
        self.encoder = Encoder(seq_length, depth, width, width // head_dim, mlp_ratio * width)
        self.heads = nn.Sequential(OrderedDict(head=nn.Linear(width, classes)))

    def forward(self, x):  # (N, C, S, S)
        x = self.conv_proj(x).flatten(2).transpose(1, 2)  # (N, L, d)
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1)
        return self.heads(self.encoder(x)[:, 0])


def build(args):
    if args.arch == "resnet18":
        return resnet18(args.width, args.in_channels, args.classes)
    if args.arch == "resnet50":
        return resnet50(args.width, args.in_channels, args.classes)
    return VisionTransformer(
        args.image_size, args.patch_size, args.in_channels, args.classes, args.width, args.depth, args.head_dim,
        args.mlp_ratio,
    )


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arch", choices=["resnet18", "resnet50", "vit"], required=True)
    p.add_argument("--width", type=int, required=True)
    p.add_argument("--in-channels", type=int, default=3)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--image-size", type=int, default=32, help="ViT only")
    p.add_argument("--patch-size", type=int, default=4, help="ViT only")
    p.add_argument("--depth", type=int, default=6, help="ViT only")
    p.add_argument("--head-dim", type=int, default=16, help="ViT only")
    p.add_argument("--mlp-ratio", type=int, default=4, help="ViT only")
    p.add_argument("--weights", required=True, help="model.safetensors (phasezoo state dict)")
    p.add_argument("--input", required=True, help="safetensors file with a tensor 'images' (N, C, H, W)")
    args = p.parse_args()
    state = load_safetensors(args.weights)
    dtype = next(t.dtype for t in state.values() if t.is_floating_point())  # float32 or float64 zoo
    model = build(args).to(dtype)
    model.load_state_dict(state, strict=True)
    model.eval()
    with torch.no_grad():
        logits = model(load_safetensors(args.input)["images"].to(dtype))
    print(json.dumps({"keys": list(model.state_dict().keys()), "logits": logits.tolist()}))


if __name__ == "__main__":
    main()
