"""The keyword options of a tokenizer call, written once: their names, defaults and checks.

transformers' LayoutLMv2 tokenizer and processor take the same fifteen keywords (padding,
truncation, max_length, stride, return_* ...) on ``__call__``, ``encode_plus`` and
``batch_encode_plus``. Here they are one frozen dataclass, built from the keywords in one place
(`EncodingOptions.from_kwargs`), which rejects unknown names and bad values, naming them, before
any word is encoded. `EncodingOptions.plan` then says what the options mean for one tokenizer
(its ``model_max_length``) and one kind of input (words, or question + words): the strategies the
encoders run, resolved as transformers resolves them.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass, fields
from typing import Any, Callable, Optional, Union

import numpy as np

logger = logging.getLogger(__name__)

VERY_LARGE_INTEGER = int(1e20)  # transformers' marker for "no maximum length"
_PADDING = {"longest": "longest", "max_length": "max_length", "do_not_pad": None}
_TRUNCATION = {"longest_first": "longest_first", "only_first": "only_first", "only_second": "only_second",
               "do_not_truncate": None}
_TENSOR_TYPES = ("pt", "np")
_SIDES = ("left", "right")


def check_side(side: Any, name: str) -> str:
    """'left' or 'right', or a ValueError naming the option."""
    if side not in _SIDES:
        raise ValueError(f"{name} must be 'left' or 'right', got {side!r}")
    return side


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _int_at_least(name: str, value: Any, minimum: int, optional: bool) -> Optional[int]:
    if value is None and optional:
        return None
    if not _is_int(value) or value < minimum:
        allowed = f"an int >= {minimum}" + (" or None" if optional else "")
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return int(value)


def _flag(name: str, value: Any, optional: bool = False) -> Optional[bool]:
    if value is None and optional:
        return None
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False{' or None' if optional else ''}, got {value!r}")
    return bool(value)


def _strategy(name: str, value: Any, table: dict) -> Union[bool, str, None]:
    value = getattr(value, "value", value)  # transformers' PaddingStrategy / TruncationStrategy enums
    if value is None or isinstance(value, bool) or (isinstance(value, str) and value in table):
        return value
    choices = ", ".join(repr(choice) for choice in table)
    raise ValueError(f"{name} must be True, False, {choices}, got {value!r}")


@dataclass(frozen=True)
class EncodingPlan:
    """What the encoders run: strategies resolved against the tokenizer and the kind of input."""

    add_special_tokens: bool
    padding: Optional[str]  # None, 'longest' or 'max_length'
    truncation: Optional[str]  # None, 'longest_first', 'only_first' or 'only_second'
    max_length: Optional[int]
    stride: int
    pad_to_multiple_of: Optional[int]
    padding_side: str


@dataclass(frozen=True)
class EncodingOptions:
    """Every keyword option of the tokenizer's ``__call__``/``encode_plus``/``batch_encode_plus``
    (and of the processor's ``__call__``), with transformers' defaults, checked when built."""

    add_special_tokens: bool = True
    padding: Union[bool, str, None] = False
    truncation: Union[bool, str, None] = None
    max_length: Optional[int] = None
    stride: int = 0
    pad_to_multiple_of: Optional[int] = None
    padding_side: Optional[str] = None
    return_tensors: Optional[str] = None
    return_token_type_ids: Optional[bool] = None
    return_attention_mask: Optional[bool] = None
    return_overflowing_tokens: bool = False
    return_special_tokens_mask: bool = False
    return_offsets_mapping: bool = False
    return_length: bool = False
    verbose: bool = True

    @classmethod
    def names(cls) -> tuple:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_kwargs(cls, kwargs: dict, **defaults: Any) -> "EncodingOptions":
        """The options from a call's keywords (``defaults`` replace the dataclass defaults)."""
        names = cls.names()
        unknown = sorted(set(kwargs) - set(names))
        if unknown:
            raise ValueError(f"unknown keyword arguments {unknown}; the options are {', '.join(names)}")
        return cls(**{**defaults, **kwargs})

    def __post_init__(self) -> None:
        checked = {
            "padding": _strategy("padding", self.padding, _PADDING),
            "truncation": _strategy("truncation", self.truncation, _TRUNCATION),
            "max_length": _int_at_least("max_length", self.max_length, 1, optional=True),
            "stride": _int_at_least("stride", self.stride, 0, optional=False),
            "pad_to_multiple_of": _int_at_least("pad_to_multiple_of", self.pad_to_multiple_of, 1, optional=True),
            "padding_side": None if self.padding_side is None else check_side(self.padding_side, "padding_side"),
            "return_tensors": self._tensor_type(),
        }
        for name in ("return_token_type_ids", "return_attention_mask"):
            checked[name] = _flag(name, getattr(self, name), optional=True)
        for name in ("add_special_tokens", "return_overflowing_tokens", "return_special_tokens_mask",
                     "return_offsets_mapping", "return_length", "verbose"):
            checked[name] = _flag(name, getattr(self, name))
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    def _tensor_type(self) -> Optional[str]:
        value = getattr(self.return_tensors, "value", self.return_tensors)  # transformers' TensorType
        if value is not None and value not in _TENSOR_TYPES:
            raise ValueError(f"return_tensors must be 'pt', 'np' or None, got {self.return_tensors!r}")
        return value

    def plan(self, model_max_length: int, is_pair: bool, default_padding_side: str,
             special_tokens: Optional[int] = None) -> EncodingPlan:
        """The strategies for this tokenizer and input, or a ValueError where they cannot work.

        ``special_tokens`` is how many the tokenizer adds to this input (default: LayoutLMv2's 2 or 3)."""
        padding, truncation, max_length = self._strategies(model_max_length)
        if truncation is not None:
            self._check_room(max_length, is_pair, special_tokens)
        return EncodingPlan(
            add_special_tokens=self.add_special_tokens, padding=padding, truncation=truncation,
            max_length=max_length, stride=self.stride, pad_to_multiple_of=self.pad_to_multiple_of,
            padding_side=self.padding_side if self.padding_side is not None else default_padding_side,
        )

    def _strategies(self, model_max_length: int) -> tuple:
        """Padding, truncation and max_length resolved exactly as transformers resolves them."""
        padding, truncation, max_length = self.padding, self.truncation, self.max_length
        if max_length is not None and padding is False and truncation is None:
            truncation = "longest_first"  # a max_length alone means: truncate to it
        if padding is True and self.verbose and max_length is not None and truncation in (None, False,
                                                                                           "do_not_truncate"):
            logger.warning("`max_length` is ignored when `padding`=`True` and there is no truncation strategy. "
                           "To pad to max length, use `padding='max_length'`.")
        padding = "longest" if padding is True else _PADDING.get(padding) if padding else None
        truncation = "longest_first" if truncation is True else _TRUNCATION.get(truncation) if truncation else None
        if max_length is None and (padding == "max_length" or truncation is not None):
            if model_max_length >= VERY_LARGE_INTEGER:  # no limit known: nothing to pad or truncate to
                padding = None if padding == "max_length" else padding
                truncation = None
            else:
                max_length = model_max_length
        multiple = self.pad_to_multiple_of
        if truncation and padding and multiple and max_length is not None and max_length % multiple:
            raise ValueError(
                "Truncation and padding are both activated but truncation length "
                f"({max_length}) is not a multiple of pad_to_multiple_of ({multiple})."
            )
        return padding, truncation, max_length

    def _check_room(self, max_length: int, is_pair: bool, special_tokens: Optional[int]) -> None:
        if special_tokens is None:
            special_tokens = 3 if is_pair else 2
        reserved = special_tokens if self.add_special_tokens else 0
        if max_length < reserved:
            # transformers silently skips truncation here, returning sequences longer than max_length
            raise ValueError(
                f"max_length={max_length} is smaller than the {reserved} special tokens it must hold"
            )
        if self.stride > max_length - 2:  # the tokenizers library refuses these, whatever the input
            raise ValueError(
                f"stride={self.stride} is too large for max_length={max_length}: it must be at most max_length - 2"
            )

    def as_kwargs(self) -> dict:
        return {name: getattr(self, name) for name in self.names()}


def takes_encoding_options(**defaults: Any) -> Callable:
    """Show the options as keyword-only parameters in the signature of a method taking ``**options``,
    so that ``help()`` and ``inspect.signature`` list them, with ``defaults`` where they differ."""
    def decorate(func: Callable) -> Callable:
        signature = inspect.signature(func)
        leading = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        options = [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, annotation=f.type,
                                     default=defaults.get(f.name, f.default)) for f in fields(EncodingOptions)]
        func.__signature__ = signature.replace(parameters=leading + options)
        return func
    return decorate
