"""The trainable network: a transformer encoder, mean pooling, and a multi-label head.

Mean pooling matches how all-MiniLM-L6-v2 was trained as a sentence encoder, so the head
starts from good sentence vectors. Saved as safetensors plus the encoder's config; never pickled.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from model.classifier import MODEL_META_FILE
from training.config import TINY, default_base_model
from training.quantise import Feeds


class EncoderClassifier(nn.Module):
    def __init__(self, encoder: nn.Module, hidden: int, num_labels: int, dropout: float):
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, num_labels)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-6)
        return self.head(self.dropout(pooled))  # type: ignore[no-any-return]


def tiny_config():  # type: ignore[no-untyped-def]
    from transformers import BertConfig

    return BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                      max_position_embeddings=128)


def keep_layers(encoder: nn.Module, layers: list[int]) -> None:
    """Drop every transformer layer not in ``layers`` (a student: fewer layers, same width and vocabulary)."""
    stack: nn.ModuleList = encoder.encoder.layer  # type: ignore[union-attr,assignment]
    if layers[-1] >= len(stack):
        raise ValueError(f"layers {layers} asks for layer {layers[-1]}, but the base model has {len(stack)} (0-{len(stack) - 1})")
    encoder.encoder.layer = nn.ModuleList([stack[i] for i in layers])  # type: ignore[union-attr,index]
    encoder.config.num_hidden_layers = len(layers)  # type: ignore[union-attr]


def build(base_model: str, num_labels: int, dropout: float, layers: list[int] | None = None) -> tuple[EncoderClassifier, Path]:
    """The network and the folder holding its tokenizer (``tokenizer.json``)."""
    from transformers import AutoModel
    from transformers import logging as hf_logging

    hf_logging.set_verbosity_error()
    if base_model == TINY:
        encoder = AutoModel.from_config(tiny_config())
        tokenizer_dir = Path(default_base_model())
    else:
        path = Path(base_model)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"base model {path} has no config.json (give a local model folder; nothing is downloaded)")
        encoder = AutoModel.from_pretrained(str(path), local_files_only=True)
        tokenizer_dir = path
    if layers is not None:
        keep_layers(encoder, layers)
    return EncoderClassifier(encoder, encoder.config.hidden_size, num_labels, dropout), tokenizer_dir


def save(network: EncoderClassifier, out_dir: Path, tokenizer_dir: Path) -> None:
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in network.state_dict().items()}
    save_file(state, str(out_dir / "model.safetensors"))
    config = network.encoder.config  # type: ignore[union-attr]
    (out_dir / "encoder_config.json").write_text(config.to_json_string(), encoding="utf-8")  # type: ignore[operator,union-attr]
    shutil.copy(tokenizer_dir / "tokenizer.json", out_dir / "tokenizer.json")


def load(model_dir: Path) -> EncoderClassifier:
    """Rebuild the PyTorch network from an artifact (for parity checks and comparisons)."""
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModel

    config_dict = json.loads((model_dir / "encoder_config.json").read_text(encoding="utf-8"))
    config = AutoConfig.for_model(**config_dict)
    meta = json.loads((model_dir / MODEL_META_FILE).read_text(encoding="utf-8"))
    network = EncoderClassifier(AutoModel.from_config(config), config.hidden_size, len(meta["labels"]), 0.0)
    network.load_state_dict(load_file(str(model_dir / "model.safetensors")))
    network.eval()
    return network


def export_onnx(network: EncoderClassifier, out_dir: Path, calibration: Feeds) -> tuple[Path, Path, dict[str, Any]]:
    """Write ``model.onnx`` (fp32) and ``model.int8.onnx``: ONNX Runtime's transformer fusions (attention,
    skip-layer-norm, bias-GELU), then int8 with activation scales calibrated on ``calibration`` (real text)
    and fixed, so a comment's scores depend neither on its batch neighbours nor on the CPU
    (``training.quantise``). Returns the two paths and what the quantisation was; which fusions were made
    is in ``fusions.json``."""
    import warnings

    from training.quantise import quantise

    network.eval()
    # The eager attention exports as the MatMul/Softmax pattern ONNX Runtime knows how to fuse
    # (PyTorch's SDPA kernel does not), which saves about a sixth of one comment's time.
    encoder = network.encoder
    if hasattr(encoder, "set_attn_implementation"):
        encoder.set_attn_implementation("eager")  # type: ignore[operator]
    else:
        encoder.config._attn_implementation = "eager"  # type: ignore[union-attr]
    ids = torch.ones((2, 12), dtype=torch.long)
    mask = torch.ones((2, 12), dtype=torch.long)
    fp32 = out_dir / "model.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(network, (ids, mask), str(fp32), input_names=["input_ids", "attention_mask"], output_names=["logits"],
                          dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                                        "logits": {0: "batch"}}, opset_version=17, dynamo=False)
    fused = _fuse(fp32, encoder.config, out_dir)  # type: ignore[arg-type]
    int8 = out_dir / "model.int8.onnx"
    info = quantise(fused, int8, calibration)
    if fused != fp32:
        fused.unlink()
    return fp32, int8, info


def _fuse(fp32: Path, config, out_dir: Path) -> Path:  # type: ignore[no-untyped-def]
    """ONNX Runtime's BERT fusions on the fp32 graph (a library step, not ours); the plain graph if they fail."""
    import logging

    from onnxruntime.transformers import optimizer

    try:
        model = optimizer.optimize_model(str(fp32), model_type="bert", num_heads=config.num_attention_heads,
                                         hidden_size=config.hidden_size, opt_level=1)
    except Exception as exc:  # noqa: BLE001 - a missed fusion costs speed, never correctness
        logging.getLogger(__name__).warning("transformer fusions failed (%s); quantising the plain graph", exc)
        (out_dir / "fusions.json").write_text(json.dumps({"error": str(exc)}), encoding="utf-8")
        return fp32
    stats = {k: v for k, v in model.get_fused_operator_statistics().items() if v}
    (out_dir / "fusions.json").write_text(json.dumps(stats, indent=2), encoding="utf-8")
    fused = out_dir / "model.fused.onnx"
    model.save_model_to_file(str(fused))
    return fused
