"""LayoutLMv2Model and the base class that every model class shares (init, load, save).

The model reads text tokens with their boxes and the page image, appends the pooled visual
tokens after the text, and runs one transformer over both:

    text (B, L)  -> embeddings (word + position + layout + type)  --+
                                                                     +-> encoder -> (B, L + 49, H)
    image (B, 3, H, W) -> ResNeXt-FPN p2 -> pool 7x7 -> visual_proj +

Example:
    >>> config = LayoutLMv2Config(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
    ...                           intermediate_size=128, coordinate_size=12, shape_size=8)
    >>> model = LayoutLMv2Model(config).eval()
    >>> out = model(input_ids=torch.tensor([[101, 2023, 102]]), image=torch.zeros(1, 3, 224, 224))
    >>> out.last_hidden_state.shape
    torch.Size([1, 52, 64])
"""

from __future__ import annotations

import os
from typing import Any, Optional, Union

import torch
from torch import nn

from .attention import ATTENTION_IMPLEMENTATIONS, LayoutLMv2SelfAttention
from .batch_norm import FrozenBatchNorm2d, synchronize_batch_norm
from ..configuration import LayoutLMv2Config
from .embeddings import LayoutLMv2Embeddings, visual_token_boxes
from .encoder import LayoutLMv2Encoder
from .fpn import FeaturePyramid
from .input_checks import complete_inputs
from .outputs import BaseModelOutputWithPooling
from .relative_position import RelativePositionBias
from .visual_backbone import VisualBackbone


class LayoutLMv2PreTrainedModel(nn.Module):
    """Weight initialisation, `from_pretrained` / `save_pretrained`, and switches shared by all classes."""

    config_class = LayoutLMv2Config
    base_model_prefix = "layoutlmv2"

    def __init__(self, config: LayoutLMv2Config) -> None:
        super().__init__()
        if not isinstance(config, LayoutLMv2Config):
            raise ValueError(f"config must be a LayoutLMv2Config, got {type(config).__name__}")
        self.config = config

    def post_init(self) -> None:
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        """transformers' initialisation for the text side; detectron2's for the FPN convs.

        Only meaningful for a model trained from scratch: a loaded checkpoint overwrites it.
        """
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=std)
            if module.padding_idx is not None:
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, RelativePositionBias):
            nn.init.normal_(module.weight, std=std)
        elif isinstance(module, LayoutLMv2SelfAttention) and module.fast_qkv:
            nn.init.zeros_(module.q_bias)
            nn.init.zeros_(module.v_bias)
        elif isinstance(module, FeaturePyramid):
            for conv in [*module.lateral, *module.output]:
                nn.init.kaiming_uniform_(conv.weight, a=1)
                nn.init.zeros_(conv.bias)
        elif isinstance(module, FrozenBatchNorm2d):
            module.weight.fill_(1.0)
            module.bias.zero_()
            module.running_mean.zero_()
            module.running_var.fill_(1.0 - module.eps)
        elif isinstance(module, LayoutLMv2Model) and module.visual_segment_embedding is not None:
            nn.init.normal_(module.visual_segment_embedding, std=std)

    # ------------------------------------------------------------------ switches
    def set_attn_implementation(self, implementation: str) -> None:
        """"sdpa" (default, fused kernel) or "eager" (the reference's arithmetic step by step)."""
        if implementation not in ATTENTION_IMPLEMENTATIONS:
            raise ValueError(f"attention implementation {implementation!r} is not one of {ATTENTION_IMPLEMENTATIONS}")
        for module in self.modules():
            if isinstance(module, LayoutLMv2Encoder):
                module.attn_implementation = implementation

    def gradient_checkpointing_enable(self) -> None:
        for module in self.modules():
            if isinstance(module, LayoutLMv2Encoder):
                module.gradient_checkpointing = True

    def gradient_checkpointing_disable(self) -> None:
        for module in self.modules():
            if isinstance(module, LayoutLMv2Encoder):
                module.gradient_checkpointing = False

    def synchronize_batch_norm(self, per_node: Optional[int] = None) -> "LayoutLMv2PreTrainedModel":
        """Frozen batch norms -> SyncBatchNorm, one process group per node (see `batch_norm.py`)."""
        synchronize_batch_norm(self, per_node)
        return self

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def num_parameters(self, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    # ------------------------------------------------------------------ load / save
    @classmethod
    def from_pretrained(cls, path_or_id: Union[str, os.PathLike], *args: Any, **kwargs: Any):
        """Load a published (detectron2-named) or our own checkpoint folder, or a hub id.

        See `layoutlmv2.checkpoint.load_pretrained` for the options (config, strict,
        torch_dtype, device, revision, cache_dir, local_files_only).
        """
        from ..checkpoints.io import load_pretrained

        return load_pretrained(cls, path_or_id, *args, **kwargs)

    def save_pretrained(self, save_directory: Union[str, os.PathLike], **kwargs: Any) -> None:
        """Write config.json and model.safetensors (sharded above `max_shard_size`)."""
        from ..checkpoints.io import save_pretrained

        save_pretrained(self, save_directory, **kwargs)


class LayoutLMv2Pooler(nn.Module):
    """tanh(dense(hidden state of the first token))."""

    def __init__(self, config: LayoutLMv2Config) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(hidden_states[:, 0]))


class LayoutLMv2Model(LayoutLMv2PreTrainedModel):
    """The bare LayoutLMv2 transformer over text, layout and image tokens."""

    def __init__(self, config: LayoutLMv2Config) -> None:
        super().__init__(config)
        self.embeddings = LayoutLMv2Embeddings(config)
        self.visual = VisualBackbone(config)
        self.visual_proj = nn.Linear(config.visual_channels, config.hidden_size)
        self.visual_segment_embedding = (
            nn.Parameter(torch.zeros(config.hidden_size)) if config.has_visual_segment_embedding else None
        )
        # the capitalised name is the checkpoint's
        self.visual_LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.visual_dropout = nn.Dropout(config.hidden_dropout_prob)
        self.encoder = LayoutLMv2Encoder(config)
        self.pooler = LayoutLMv2Pooler(config)
        self.register_buffer("visual_bbox", visual_token_boxes(config.visual_grid), persistent=False)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embeddings.word_embeddings = value

    def visual_embeddings(self, image: torch.Tensor) -> torch.Tensor:
        """Image (B, 3, H, W) -> visual tokens (B, rows * cols, hidden) entering the encoder."""
        features = self.visual(image.to(self.visual_proj.weight.dtype))  # (B, 49, C)
        count = features.shape[1]
        positions = torch.arange(count, device=features.device)  # visual positions restart at 0
        embeddings = (
            self.visual_proj(features)
            + self.embeddings.position_embeddings(positions)
            + self.embeddings.spatial(self.visual_bbox.unsqueeze(0))
        )
        if self.visual_segment_embedding is not None:
            embeddings = embeddings + self.visual_segment_embedding
        return self.visual_dropout(self.visual_LayerNorm(embeddings))

    def forward(
        self,
        input_ids: Optional[torch.Tensor] = None,
        bbox: Optional[torch.Tensor] = None,
        image: Optional[torch.Tensor] = None,
        attention_mask: Optional[torch.Tensor] = None,
        token_type_ids: Optional[torch.Tensor] = None,
        position_ids: Optional[torch.Tensor] = None,
        head_mask: Optional[torch.Tensor] = None,
        inputs_embeds: Optional[torch.Tensor] = None,
        output_attentions: Optional[bool] = None,
        output_hidden_states: Optional[bool] = None,
        return_dict: Optional[bool] = None,
        return_visual_embeddings: bool = False,
    ):
        """Text (B, L) + boxes (B, L, 4) in 0..1000 + image (B, 3, H, W) BGR 0..255.

        Missing `bbox` means all-zero boxes, missing `attention_mask` attends to every token,
        missing `token_type_ids` are zeros, missing `position_ids` count 0..L-1.
        `head_mask` is accepted for API compatibility and must be None.
        """
        config = self.config
        output_attentions = config.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = config.output_hidden_states if output_hidden_states is None else output_hidden_states
        return_dict = config.use_return_dict if return_dict is None else return_dict
        x = complete_inputs(config, input_ids, inputs_embeds, bbox, image, attention_mask, token_type_ids,
                            position_ids, head_mask)

        text = self.embeddings(input_ids, x.bbox, x.position_ids, x.token_type_ids, inputs_embeds)  # (B, L, H)
        visual = self.visual_embeddings(x.image)  # (B, V, H)
        count = visual.shape[1]
        hidden_states = torch.cat([text, visual], dim=1)  # (B, L + V, H)

        final_bbox = torch.cat([x.bbox, self.visual_bbox.to(x.bbox.dtype).expand(x.batch, count, 4)], dim=1)
        visual_positions = torch.arange(count, device=visual.device).expand(x.batch, count)
        final_positions = torch.cat([x.position_ids, visual_positions], dim=1)  # visual positions restart at 0
        padding_mask = torch.cat(
            [x.attention_mask == 0, torch.zeros(x.batch, count, dtype=torch.bool, device=visual.device)], dim=1
        )[:, None, None, :]  # (B, 1, 1, L + V), True on padded keys

        sequence_output, all_hidden, all_attentions = self.encoder(
            hidden_states, padding_mask, final_bbox, final_positions, output_attentions, output_hidden_states
        )
        outputs = BaseModelOutputWithPooling(
            last_hidden_state=sequence_output,
            pooler_output=self.pooler(sequence_output),
            hidden_states=all_hidden,
            attentions=all_attentions,
            visual_embeddings=visual if return_visual_embeddings else None,
        )
        return outputs if return_dict else outputs.to_tuple()
