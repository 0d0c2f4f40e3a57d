"""``Layer``: the base class of every numdense layer (Keras 3 protocol).

``__init__`` validates and resolves identifiers, ``build(input_shape)`` creates weights through
``add_weight``, ``call(inputs)`` computes with kernels. ``__call__`` converts the input, checks
it against ``input_spec``, builds on first use, and records a ``Node`` when called on symbolic
``KerasTensor`` inputs.
"""

import numpy as np

from numdense import backend, config, initializers, regularizers
from numdense.layers.input_spec import assert_input_compatibility
from numdense.layers.symbolic import KerasTensor, Node
from numdense.utils import naming
from numdense.variables import Variable

_FLOAT_DTYPES = ("float32", "float64")


def standardize_dtype(dtype):
    """A float dtype name from a string, NumPy dtype or Keras ``DTypePolicy`` config."""
    if dtype is None:
        return config.floatx()
    if isinstance(dtype, dict):
        dtype = (dtype.get("config") or {}).get("name", dtype.get("name"))
    name = config.float_name(getattr(dtype, "name", dtype))
    if name is None:
        raise ValueError(
            f"Unsupported dtype {dtype!r}: numdense layers compute in one of {list(_FLOAT_DTYPES)}."
        )
    return name


def to_float_array(x, dtype, what="input"):
    """Converts user input (array, list, Variable) to a C-contiguous float array of ``dtype``."""
    if isinstance(x, Variable):
        x = x.numpy()
    try:
        arr = np.asarray(x)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"Expected {what} to be a rectangular numeric array: {exc}") from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(
            f"Expected {what} to be a numeric array (bool, int or float); "
            f"received an array of dtype {arr.dtype}."
        )
    # np.asarray with order="C", not np.ascontiguousarray, which turns a scalar into shape (1,).
    return np.asarray(arr, dtype=dtype, order="C")


def _batch_shape_from_kwargs(kwargs):
    input_shape = kwargs.pop("input_shape", None)
    input_dim = kwargs.pop("input_dim", None)
    batch_input_shape = kwargs.pop("batch_input_shape", None)
    batch_shape = kwargs.pop("batch_shape", None)
    batch_size = kwargs.pop("batch_size", None)
    if batch_input_shape is None:
        batch_input_shape = batch_shape
    if batch_input_shape is not None:
        return tuple(batch_input_shape)
    if input_shape is None and input_dim is not None:
        input_shape = (input_dim,)
    if input_shape is not None:
        if isinstance(input_shape, int):
            input_shape = (input_shape,)
        return (batch_size,) + tuple(input_shape)
    return None


class Layer:
    """Base layer.

    Args:
        name: layer name; unique per process by default (``dense``, ``dense_1``, ...).
        trainable: whether the layer's weights are updated by training.
        dtype: ``"float32"`` (default, ``numdense.config.floatx()``) or ``"float64"``.
        activity_regularizer: regularizer applied to the layer output during training.
        input_shape, input_dim, batch_input_shape, batch_size: Keras 2 style declaration of the
            input of the first layer of a ``Sequential``.
    """

    # Bumped whenever any layer creates a weight or a Dense layer's activation is set (and when
    # a Sequential gains or loses a layer): a compiled plan that holds weight addresses or
    # activation ids is valid while this is the number it was built under, so ``model(x)``
    # checks one integer instead of walking the layers.
    structure_version = 0

    def __init__(self, name=None, trainable=True, dtype=None, activity_regularizer=None, **kwargs):
        self._batch_input_shape = _batch_shape_from_kwargs(kwargs)
        kwargs.pop("autocast", None)
        if kwargs:
            raise TypeError(
                f"Unrecognized keyword arguments passed to {type(self).__name__}: {kwargs}"
            )
        if name is not None and not isinstance(name, str):
            raise TypeError(f"Argument `name` must be a string. Received: name={name!r}")
        self.name = name or naming.uniquify(naming.to_snake_case(type(self).__name__))
        self._trainable = bool(trainable)
        self._dtype = standardize_dtype(dtype)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.built = False
        self.input_spec = None
        self.supports_masking = False
        self._variables = []
        self._inbound_nodes = []
        self._activity_losses = []
        self._device = None  # where the weights live; set by the first add_weight

    # ----------------------------------------------------------------- weights
    def add_weight(self, name, shape, initializer="glorot_uniform", regularizer=None,
                   constraint=None, trainable=True, dtype=None):
        """Creates a weight, initialised now, and registers it with the layer.

        The weight lives on the device in force (``numdense.backend.get_device()``) when the
        first weight of the layer is created; all the layer's weights share that device.
        """
        if getattr(self, "_device", None) is None:
            self._device = backend.get_device()
        shape = tuple(int(d) for d in shape)
        dtype = standardize_dtype(dtype or self._dtype)
        init = initializers.get(initializer)
        value = np.asarray(init(shape, dtype=dtype), dtype=dtype)
        from numdense import constraints

        variable = Variable(
            value,
            name=name,
            path=f"{self.name}/{name}",
            trainable=trainable,
            regularizer=regularizers.get(regularizer),
            constraint=constraints.get(constraint),
            device=self._device,
        )
        self._variables.append(variable)
        Layer.structure_version += 1
        return variable

    @property
    def dtype(self):
        return self._dtype

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)

    @property
    def variables(self):
        return list(self._variables)

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return [v for v in self._variables if v.trainable]

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return list(self._variables)
        return [v for v in self._variables if not v.trainable]

    @property
    def weights(self):
        return self.trainable_weights + self.non_trainable_weights

    @property
    def trainable_variables(self):
        return self.trainable_weights

    @property
    def non_trainable_variables(self):
        return self.non_trainable_weights

    def get_weights(self):
        """The weights as a list of NumPy arrays (copies), in ``weights`` order."""
        return [v.numpy() for v in self.weights]

    def set_weights(self, weights):
        """Sets the weights from a list of arrays, with Keras' count and shape checks."""
        variables = self.weights
        weights = list(weights)
        if len(weights) != len(variables):
            raise ValueError(
                f"You called `set_weights(weights)` on layer '{self.name}' with a weight list "
                f"of length {len(weights)}, but the layer was expecting {len(variables)} weights."
            )
        arrays = [np.asarray(w) for w in weights]
        for variable, array in zip(variables, arrays):
            if array.shape != variable.shape:
                raise ValueError(
                    f"Layer {self.name} weight shape {variable.shape} is not compatible with "
                    f"provided weight shape {array.shape}."
                )
            if array.dtype == object or array.dtype.kind not in "biuf":
                raise TypeError(
                    f"Layer {self.name}: weights must be numeric arrays; received dtype "
                    f"{array.dtype} for '{variable.path}'."
                )
        for variable, array in zip(variables, arrays):  # all checked first: no half-set layer
            variable.assign(array)

    def count_params(self):
        if not self.built:
            raise ValueError(
                f"You tried to call `count_params` on layer '{self.name}', but the layer isn't "
                f"built. You can build it manually via: `layer.build(input_shape)`."
            )
        return int(sum(v.size for v in self.weights))

    @property
    def losses(self):
        """Activity-regularizer losses of the last call plus fresh weight penalties."""
        penalties = [
            float(v.regularizer(backend.to_host(v.value)))
            for v in self.trainable_weights if v.regularizer is not None
        ]
        return list(self._activity_losses) + penalties

    # ------------------------------------------------------------- build/call
    def build(self, input_shape):
        self.built = True

    def call(self, inputs, training=False):
        return inputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def _maybe_build(self, input_shape):
        if not self.built:
            if input_shape and isinstance(input_shape[0], (list, tuple)):
                input_shape = [tuple(s) for s in input_shape]  # a merge layer's shapes
            else:
                input_shape = tuple(input_shape)
            self.build(input_shape)
            self.built = True
            self._build_shape = input_shape

    # Merge layers take a list of tensors; every other layer takes one.
    _list_input = False

    def _unpack_list(self, inputs):
        """A single-tensor layer called with a one-element list gets the element; a list of
        several raises naming the layer."""
        if self._list_input:
            return list(inputs)
        if len(inputs) == 1:
            return inputs[0]
        raise ValueError(
            f"Layer '{self.name}' ({type(self).__name__}) expects a single input tensor; "
            f"received a list of {len(inputs)} inputs. Merge them first (e.g. with "
            "`Concatenate()` or `Add()`)."
        )

    def __call__(self, inputs, training=False, **kwargs):
        if isinstance(inputs, (list, tuple)):
            inputs = self._unpack_list(inputs)
            if isinstance(inputs, list):
                return self._list_call(inputs, training)
        if isinstance(inputs, KerasTensor):
            return self._symbolic_call(inputs)
        on_device = backend.is_device_array(inputs)
        if on_device:
            if np.dtype(inputs.dtype) != np.dtype(self._dtype):
                raise TypeError(
                    f"Layer '{self.name}' computes in {self._dtype}; received a device array "
                    f"of dtype {inputs.dtype}."
                )
            x = inputs
        else:
            x = to_float_array(inputs, self._dtype, what=f"the input of layer '{self.name}'")
        shape = tuple(x.shape)
        assert_input_compatibility(self.input_spec, shape, self.name)
        if not self.built:
            self._maybe_build((None,) + shape[1:])
            assert_input_compatibility(self.input_spec, shape, self.name)
        if not on_device and getattr(self, "_device", None) == "cuda":
            x = backend.to_device(x)  # host input, weights on the GPU: one copy up ...
        outputs = self.call(x, training=training)
        if not on_device and backend.is_device_array(outputs):
            outputs = outputs.copy_to_host()  # ... and the result back
        if self.activity_regularizer is not None:
            if backend.is_device_array(outputs):
                raise NotImplementedError(
                    f"Layer '{self.name}': activity regularizers are not supported on the "
                    "'cuda' device yet."
                )
            batch = outputs.shape[0] if outputs.ndim else 1
            value = float(self.activity_regularizer(outputs))
            self._activity_losses = [value / batch if batch else 0.0]
        return outputs

    def _symbolic_call(self, tensor):
        assert_input_compatibility(self.input_spec, tensor.shape, self.name)
        if not self.built:
            self._maybe_build(tensor.shape)
            assert_input_compatibility(self.input_spec, tensor.shape, self.name)
        shape = self.compute_output_shape(tensor.shape)
        output = KerasTensor(shape, self._dtype, name=self.name,
                             history=(self, len(self._inbound_nodes), 0))
        self._inbound_nodes.append(Node(self, [tensor], [output]))
        return output

    def _list_call(self, inputs, training=False):
        """A call on a list of tensors (merge layers): all symbolic, or all arrays."""
        symbolic = [isinstance(t, KerasTensor) for t in inputs]
        if any(symbolic):
            if not all(symbolic):
                raise ValueError(
                    f"Layer '{self.name}' received a mix of symbolic tensors and arrays; pass "
                    "either only `Input`-derived tensors or only arrays."
                )
            shapes = [t.shape for t in inputs]
            if not self.built:
                self._maybe_build(shapes)
            shape = self.compute_output_shape(shapes)
            output = KerasTensor(shape, self._dtype, name=self.name,
                                 history=(self, len(self._inbound_nodes), 0))
            self._inbound_nodes.append(Node(self, inputs, [output], list_call=True))
            return output
        on_device = [backend.is_device_array(t) for t in inputs]
        if any(on_device) and not all(on_device):
            inputs = [backend.to_device(t if d else to_float_array(t, self._dtype))
                      for t, d in zip(inputs, on_device)]
        elif not any(on_device):
            inputs = [to_float_array(t, self._dtype, what=f"input {i} of layer '{self.name}'")
                      for i, t in enumerate(inputs)]
        if not self.built:
            self._maybe_build([(None,) + tuple(t.shape[1:]) for t in inputs])
        return self.call(inputs, training=training)

    # ------------------------------------------------- training (Python path)
    def _train_forward(self, x):
        """Forward pass that keeps what ``_train_backward`` needs. Returns the output."""
        raise NotImplementedError(
            f"Layer '{self.name}' ({type(self).__name__}) does not support training in numdense."
        )

    def _train_backward(self, dy):
        """Backward pass: returns dL/dinput and stores weight gradients in ``self._grads``
        (a dict from ``id(variable)`` to an array of the variable's shape)."""
        raise NotImplementedError(
            f"Layer '{self.name}' ({type(self).__name__}) does not support training in numdense."
        )

    def get_build_config(self):
        shape = getattr(self, "_build_shape", None)
        if shape is None:
            return None
        if isinstance(shape, list):
            return {"input_shape": [list(s) for s in shape]}
        return {"input_shape": list(shape)}

    def build_from_config(self, build_config):
        if build_config and build_config.get("input_shape") is not None:
            self._maybe_build(build_config["input_shape"])

    # ------------------------------------------------ Keras 2 node accessors
    def _node_attribute(self, index, attr, what):
        if not self._inbound_nodes:
            raise RuntimeError(
                f"The layer {self.name} has never been called and thus has no defined {what}."
            )
        if not 0 <= index < len(self._inbound_nodes):
            raise ValueError(
                f"Asked to get {what} at node {index}, but the layer has only "
                f"{len(self._inbound_nodes)} inbound nodes."
            )
        value = getattr(self._inbound_nodes[index], attr)
        if isinstance(value, list) and len(value) == 1:
            return value[0]
        return value

    def get_input_at(self, node_index):
        return self._node_attribute(node_index, "input_tensors", "input")

    def get_output_at(self, node_index):
        return self._node_attribute(node_index, "output_tensors", "output")

    def get_input_shape_at(self, node_index):
        return self._node_attribute(node_index, "input_shapes", "input shape")

    def get_output_shape_at(self, node_index):
        return self._node_attribute(node_index, "output_shapes", "output shape")

    def _unique_node_shape(self, attr, what):
        if not self._inbound_nodes:
            if what == "input" and getattr(self, "_batch_input_shape", None) is not None:
                return tuple(self._batch_input_shape)
            raise AttributeError(
                f'The layer "{self.name}" has never been called and thus has no defined '
                f"{what} shape."
                + (" Note that the `input_shape` property is only available for Functional "
                   "and Sequential models." if what == "input" else "")
            )
        shapes = {str(getattr(n, attr)) for n in self._inbound_nodes}
        if len(shapes) > 1:
            raise AttributeError(
                f'The layer "{self.name}" has multiple inbound nodes, with different {what} '
                f'shapes. Hence the notion of "{what} shape" is ill-defined for the layer. '
                f"Use `get_{what}_shape_at(node_index)` instead."
            )
        return getattr(self._inbound_nodes[0], attr)

    @property
    def input_shape(self):
        return self._unique_node_shape("input_shapes", "input")

    @property
    def output_shape(self):
        return self._unique_node_shape("output_shapes", "output")

    @property
    def input(self):
        if not self._inbound_nodes:
            raise AttributeError(f"Layer {self.name} is not connected, no input to return.")
        return self.get_input_at(0)

    @property
    def output(self):
        if not self._inbound_nodes:
            raise AttributeError(f"Layer {self.name} has no inbound nodes.")
        return self.get_output_at(0)

    # ---------------------------------------------------------------- config
    def get_config(self):
        config = {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": {
                "module": "keras",
                "class_name": "DTypePolicy",
                "config": {"name": self._dtype},
                "registered_name": None,
            },
        }
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"
