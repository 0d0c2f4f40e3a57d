"""``InputLayer`` and ``Input``: the entry point of a model."""

from numdense.layers.layer import Layer, standardize_dtype
from numdense.layers.symbolic import KerasTensor, Node


class InputLayer(Layer):
    """The layer that produces a model's symbolic input tensor.

    Args:
        shape: shape of one sample, without the batch dimension (e.g. ``(784,)``).
        batch_size: optional fixed batch size.
        dtype: input dtype (default ``numdense.config.floatx()``).
        batch_shape: full shape including the batch dimension (instead of ``shape``).
        name: layer name (default ``input_layer``, ``input_layer_1``, ...).
    """

    def __init__(self, shape=None, batch_size=None, dtype=None, batch_shape=None, name=None,
                 sparse=None, ragged=None, optional=False, **kwargs):
        if shape is None and batch_shape is None:
            legacy = kwargs.pop("batch_input_shape", None)
            if legacy is None:
                raise ValueError("You must pass a `shape` argument (or `batch_shape`) to InputLayer.")
            batch_shape = legacy
        for flag, value in (("sparse", sparse), ("ragged", ragged), ("optional", optional)):
            if value:
                raise ValueError(f"numdense does not support {flag} inputs ({flag}=True).")
        super().__init__(name=name, dtype=standardize_dtype(dtype), **kwargs)
        if batch_shape is None:
            if isinstance(shape, int):
                shape = (shape,)
            try:
                shape = tuple(shape)
            except TypeError:
                raise ValueError(
                    f"Argument `shape` must be a tuple of integers. Received: shape={shape!r}"
                ) from None
            batch_shape = (batch_size,) + shape
        batch_shape = tuple(batch_shape)
        for dim in batch_shape[1:]:
            if dim is not None and (isinstance(dim, bool) or int(dim) != dim or dim < 0):
                raise ValueError(
                    f"Invalid dimension in `shape`: {dim!r}. Expected non-negative integers "
                    f"or None. Received: batch_shape={batch_shape}"
                )
        self.batch_shape = batch_shape
        self.built = True
        tensor = KerasTensor(batch_shape, self._dtype, name=self.name, history=(self, 0))
        self._inbound_nodes.append(Node(self, [], [tensor]))
        self.output_tensor = tensor

    def get_config(self):
        return {
            "batch_shape": list(self.batch_shape),
            "dtype": self._dtype,
            "sparse": False,
            "ragged": False,
            "name": self.name,
            "optional": False,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "batch_input_shape" in config and "batch_shape" not in config:
            config["batch_shape"] = config.pop("batch_input_shape")
        return cls(**config)


def Input(shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, name=None):
    """Creates a symbolic input tensor to start a model: ``x = nd.Input(shape=(784,))``.

    Args:
        shape: shape of one sample, without the batch dimension.
        batch_size: optional fixed batch size.
        dtype: input dtype.
        sparse: not supported (must be falsy).
        batch_shape: full shape including the batch dimension.
        name: name of the input layer.
    """
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, sparse=sparse,
                       batch_shape=batch_shape, name=name)
    return layer.output_tensor
