"""``Sequential``: a plain stack of layers, one input and one output."""

import numpy as np

from numdense import activations, row_helper
from numdense.kernels.cpu.row_split import worth_splitting
from numdense.kernels.cpu.sequential import forward_plan, sequential_forward
from numdense.layers import deserialize as deserialize_layer
from numdense.layers import serialize as serialize_layer
from numdense.layers.dense import Dense
from numdense.layers.dropout import Dropout
from numdense.layers.input_layer import InputLayer
from numdense.layers.layer import Layer, to_float_array
from numdense.layers.symbolic import KerasTensor
from numdense.models.model import Model

_PREDICT_ROWS = 4096  # rows of one compiled predict call at most
_PREDICT_ELEMENTS = 1 << 20  # and of the widest layer's output at most


class Sequential(Model):
    """A linear stack of layers.

    Args:
        layers: optional list of layers (an ``Input`` tensor or ``InputLayer`` may come first).
        trainable: whether the model's weights are trained.
        name: model name (default ``sequential``, ``sequential_1``, ...).

    Example:
        >>> model = Sequential([Dense(64, activation="relu", input_shape=(20,)), Dense(5)])
        >>> model.output_shape
        (None, 5)
    """

    def __init__(self, layers=None, trainable=True, name=None):
        Layer.__init__(self, name=name, trainable=trainable)
        self._layers = []
        self._owned_nodes = []
        self._inputs = self._outputs = None
        for layer in layers or []:
            self.add(layer, rebuild=False)
        self._maybe_rebuild()

    # ---------------------------------------------------------------- layers
    @property
    def dtype(self):
        """The dtype the model computes in and returns: that of its last layer with weights
        (else its input's, else ``floatx()``), so a stack of float64 layers is a float64 model."""
        if self.built:  # fixed by build(); model(x) reads it on every call
            return self._built_dtype
        return self._layers_dtype()

    def _layers_dtype(self):
        for layer in reversed(self._layers):
            if layer.weights or isinstance(layer, InputLayer):
                return layer.dtype
        return self._dtype

    @property
    def layers(self):
        return [l for l in self._layers if not isinstance(l, InputLayer)]

    @Model.trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        for layer in self._layers:
            layer.trainable = value

    def add(self, layer, rebuild=True):
        """Adds a layer on top of the stack (an ``Input`` tensor sets the model's input)."""
        if isinstance(layer, KerasTensor) and layer._history is not None:
            if isinstance(layer._history[0], InputLayer):
                layer = layer._history[0]
        if not isinstance(layer, Layer):
            raise ValueError(
                "Only instances of `numdense.layers.Layer` can be added to a Sequential model. "
                f"Received: {layer!r} (of type {type(layer).__name__})"
            )
        if isinstance(layer, InputLayer):
            if self._layers and isinstance(self._layers[0], InputLayer):
                raise ValueError(
                    f"Sequential model '{self.name}' has already been configured to use input "
                    f"shape {self._layers[0].batch_shape}. You cannot add a different Input "
                    "layer to it."
                )
            if self._layers:
                raise ValueError("An Input layer can only be the first layer of a Sequential model.")
        names = {l.name for l in self._layers}
        if layer.name in names:
            raise ValueError(
                "All layers added to a Sequential model should have unique names. Name "
                f"'{layer.name}' is already the name of a layer in this model. Update the "
                "`name` argument to pass a unique name."
            )
        self._layers.append(layer)
        Layer.structure_version += 1
        if rebuild:
            self._maybe_rebuild()
        else:
            self.built = False

    def pop(self, rebuild=True):
        """Removes and returns the last layer."""
        if not self.layers:
            raise TypeError("There are no layers in the model.")
        layer = self._layers.pop()
        Layer.structure_version += 1
        self.built = False
        if rebuild:
            self._maybe_rebuild()
        return layer

    def _maybe_rebuild(self):
        self.built = False
        if not self._layers:
            return
        first = self._layers[0]
        if not isinstance(first, InputLayer) and first._batch_input_shape is not None:
            self._layers.insert(0, InputLayer(batch_shape=first._batch_input_shape,
                                              dtype=first.dtype))
            Layer.structure_version += 1
            first = self._layers[0]
        if isinstance(first, InputLayer) and len(self._layers) > 1:
            self.build(first.batch_shape)

    def build(self, input_shape=None):
        """Builds every layer for ``input_shape`` (batch dimension included, may be None)."""
        if input_shape is None:
            if self._layers and isinstance(self._layers[0], InputLayer):
                input_shape = self._layers[0].batch_shape
            else:
                raise ValueError("You must provide an `input_shape` argument.")
        input_shape = tuple(input_shape)
        for layer, node in self._owned_nodes:  # forget the trace of a previous build
            if node in layer._inbound_nodes:
                layer._inbound_nodes.remove(node)
        self._owned_nodes = []
        if self._layers and isinstance(self._layers[0], InputLayer):
            tensor = self._layers[0].output_tensor
            if tensor.shape[1:] != input_shape[1:]:
                raise ValueError(
                    f"Sequential model '{self.name}' expects inputs of shape {tensor.shape}; "
                    f"cannot build it for input_shape={input_shape}."
                )
        else:
            tensor = KerasTensor(input_shape, self.dtype, name=f"{self.name}_input")
        inputs = tensor
        for layer in self.layers:
            tensor = layer(tensor)
            self._owned_nodes.append((layer, layer._inbound_nodes[-1]))
        self._inputs, self._outputs = [inputs], [tensor]
        self._built_dtype = self._layers_dtype()
        self.built = True
        Layer.structure_version += 1

    # ----------------------------------------------------------- call/shapes
    # (Layer.structure_version when built, plan or None): see _inference_plan.
    _inference_cache = (-1, None)

    def _inference_plan(self):
        """``(dtype, input width, output width, table, arrays)`` for ``sequential_forward`` when
        the model is a built stack of Dense (and inference-time Dropout) layers with builtin
        activations, else None. Rebuilt after any change of ``Layer.structure_version`` (new
        weights, a new activation, a layer added or removed); the cache keeps the arrays that
        the table addresses alive."""
        cached = self._inference_cache
        if cached[0] != Layer.structure_version:
            cached = self._inference_cache = (Layer.structure_version,
                                              self._build_inference_plan())
        return cached[1]

    def _predict_steps_per_call(self, batch_size):
        # A Dense stack's rows are independent, so predict runs many batches per compiled call:
        # one parallel product of ~4,096 rows beats 128 of 32 rows, each a parallel region of
        # its own (60,000 MNIST rows: 140 -> 86 ms). The rows are capped so that the widest
        # layer's output stays near 4 MB in float32.
        plan = self._inference_plan()
        if plan is None:
            return 1
        widest = max(w.shape[1] for w in plan[4][:plan[3].shape[0]])
        rows = min(_PREDICT_ROWS, max(1, _PREDICT_ELEMENTS // widest))
        return max(1, rows // batch_size)

    def _build_inference_plan(self):
        if not self.built:
            return None
        if self.device != "cpu":  # a model on the GPU runs per layer there
            return None
        if self._layers and isinstance(self._layers[0], InputLayer):
            if len(self._layers[0].batch_shape) != 2:
                return None
        layers = []
        for layer in self.layers:
            if isinstance(layer, Dropout):
                continue
            if (not isinstance(layer, Dense) or not layer.built or layer.activity_regularizer
                    or layer.dtype != self.dtype):
                return None
            spec = activations.kernel_spec(layer.activation or activations.linear)
            if spec is None:
                return None
            layers.append((layer, spec))
        if not layers:
            return None
        ws = [l.kernel.value for l, _ in layers]
        bs = [l.bias.value if l.bias is not None else np.empty(0, self.dtype) for l, _ in layers]
        plan = forward_plan(ws, bs, [spec[0] for _, spec in layers],
                            [spec[1:] for _, spec in layers])
        if any(worth_splitting(1, w.shape[1], w.shape[0]) for w in ws):
            row_helper.start()  # one-sample calls can use a second core
        return np.dtype(self.dtype), ws[0].shape[0], ws[-1].shape[1], plan, ws + bs

    def _device_call(self, inputs, training):
        """A model on the GPU: the batch is copied to the device once, every layer runs there,
        and (for host input) the output comes back as a NumPy array."""
        from numdense import backend

        on_device = backend.is_device_array(inputs)
        x = inputs if on_device else to_float_array(
            inputs, self.dtype, what=f"the input of model '{self.name}'")
        x = backend.to_device(x)
        for layer in self.layers:
            x = layer(x, training=training)
        return x if on_device else backend.to_host(x)

    def __call__(self, inputs, training=False, **kwargs):
        # The fast path comes first and is a handful of cheap checks: one sample of a 784-128-10
        # MLP computes in ~5 us, so every 0.1 us here counts. (``is`` on the dtype: NumPy's
        # native float dtypes are singletons; any other spelling takes the general path.)
        if not training and type(inputs) is np.ndarray:
            plan = self._inference_cache
            plan = plan[1] if plan[0] == Layer.structure_version else self._inference_plan()
            shape = inputs.shape
            if (plan is not None and inputs.dtype is plan[0] and len(shape) == 2
                    and shape[1] == plan[1] and inputs.flags.c_contiguous):
                out = np.empty((shape[0], plan[2]), plan[0])
                sequential_forward(inputs, out, plan[3])
                return out
        if self.built and not isinstance(inputs, KerasTensor) and self.device != "cpu":
            return self._device_call(inputs, training)
        if isinstance(inputs, KerasTensor):
            if not self.built:
                self.build(inputs.shape)
            for layer in self.layers:
                inputs = layer(inputs)
            return inputs
        x = to_float_array(inputs, self.dtype, what=f"the input of model '{self.name}'")
        if not self.built:
            if x.ndim == 0:
                raise ValueError(f"Model '{self.name}' expects batched inputs; received a scalar.")
            self.build((None,) + x.shape[1:])
        for layer in self.layers:
            x = layer(x, training=training)
        return x

    def call(self, inputs, training=False):
        return self(inputs, training=training)

    def compute_output_shape(self, input_shape):
        for layer in self.layers:
            input_shape = layer.compute_output_shape(input_shape)
        return input_shape

    def _require_built(self, what):
        if not self.built:
            raise AttributeError(
                f"Sequential model '{self.name}' has no defined {what} yet: it has not been "
                "built. Add an Input, pass `input_shape` to the first layer, or call `build()`."
            )

    @property
    def inputs(self):
        self._require_built("inputs")
        return list(self._inputs)

    @property
    def outputs(self):
        self._require_built("outputs")
        return list(self._outputs)

    @property
    def input(self):
        return self.inputs[0]

    @property
    def output(self):
        return self.outputs[0]

    @property
    def input_shape(self):
        self._require_built("input shape")
        return self._inputs[0].shape

    @property
    def output_shape(self):
        self._require_built("output shape")
        return self._outputs[0].shape

    # ---------------------------------------------------------------- config
    def get_config(self):
        config = Layer.get_config(self)
        layers = []
        for layer in self._layers:
            entry = serialize_layer(layer)
            build_config = None if isinstance(layer, InputLayer) else layer.get_build_config()
            if build_config:
                entry["build_config"] = build_config
            layers.append(entry)
        config["layers"] = layers
        if self.built:
            config["build_input_shape"] = list(self._inputs[0].shape)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        for layer_config in config["layers"]:
            model.add(deserialize_layer(layer_config, custom_objects), rebuild=False)
        model._maybe_rebuild()
        if not model.built and config.get("build_input_shape") is not None:
            model.build(tuple(config["build_input_shape"]))
        return model
