"""``Functional``: a model defined by a graph of layer calls, ``Model(inputs, outputs)``.

The graph is traced from the outputs back to the ``Input`` tensors through each
``KerasTensor``'s history (layer, node index, tensor index), then ordered by depth as Keras
orders it (deepest first; within a depth, by first visit from the outputs). Running the model
runs the nodes in that order.
"""

import numpy as np

from numdense import backend
from numdense.layers.input_layer import InputLayer
from numdense.layers.layer import Layer, to_float_array
from numdense.layers.symbolic import KerasTensor
from numdense.models import functional_graph as graph
from numdense.models.functional_training import FunctionalTrainer
from numdense.models.model import Model


def _flatten(struct):
    """``(flat list, keys)`` of a single tensor, a list/tuple or a dict (sorted keys)."""
    if isinstance(struct, dict):
        keys = sorted(struct)
        return [struct[k] for k in keys], keys
    if isinstance(struct, (list, tuple)):
        return list(struct), None
    return [struct], None


class Functional(FunctionalTrainer, Model):
    """A model built from symbolic tensors: ``Model(inputs, outputs)``.

    Args:
        inputs: an ``Input`` tensor, or a list or dict of them.
        outputs: a tensor computed from ``inputs`` by calling layers, or a list or dict of them.
        name: model name (default ``functional``, ``functional_1``, ...).
        trainable: whether the model's weights are trained.

    Example:
        >>> a = Input(shape=(3,)); b = Input(shape=(3,))
        >>> model = Model([a, b], Dense(1)(Add()([a, b])))
    """

    def __init__(self, inputs, outputs, name=None, trainable=True, **kwargs):
        Layer.__init__(self, name=name, trainable=trainable if trainable is not None else True,
                       **kwargs)
        self._inputs_struct = inputs
        self._outputs_struct = outputs
        flat_in, self._input_keys = _flatten(inputs)
        flat_out, self._output_keys = _flatten(outputs)
        for what, tensors in (("inputs", flat_in), ("outputs", flat_out)):
            if not tensors:
                raise ValueError(f"Model '{self.name}': `{what}` must not be empty.")
            for t in tensors:
                if not isinstance(t, KerasTensor):
                    raise ValueError(
                        f"All `{what}` of a functional model must be symbolic tensors (from "
                        f"`Input` and layer calls). Received: {t!r} (of type "
                        f"{type(t).__name__})"
                    )
        for t in flat_in:
            if t._history is None or not isinstance(t._history[0], InputLayer):
                raise ValueError(
                    f"Model '{self.name}': every input must be a tensor returned by `Input()` "
                    f"(an InputLayer's output). Received: {t!r}"
                )
        self._input_tensors = flat_in
        self._output_tensors = flat_out
        mapped = graph.map_graph(self.name, flat_in, flat_out)
        self._network_nodes, self._nodes_by_depth, self._layers = mapped
        self._exec_nodes = [n for d in sorted(self._nodes_by_depth, reverse=True)
                            for n in self._nodes_by_depth[d] if not n.is_input]
        self._input_layers = [t._history[0] for t in flat_in]
        self._output_layers = [t._history[0] for t in flat_out]
        if self._output_keys is not None:
            self.output_names = list(self._output_keys)
        else:
            self.output_names = [layer.name for layer in self._output_layers]
        self.input_names = ([str(k) for k in self._input_keys] if self._input_keys is not None
                            else [layer.name for layer in self._input_layers])
        self._trainable = bool(trainable if trainable is not None else True)
        self.built = True

    # ---------------------------------------------------------------- layers
    @property
    def layers(self):
        return list(self._layers)

    @property
    def inputs(self):
        return list(self._input_tensors)

    @property
    def outputs(self):
        return list(self._output_tensors)

    @property
    def input(self):
        return self._input_tensors[0] if len(self._input_tensors) == 1 else self.inputs

    @property
    def output(self):
        return self._output_tensors[0] if len(self._output_tensors) == 1 else self.outputs

    @property
    def input_shape(self):
        shapes = [t.shape for t in self._input_tensors]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        shapes = [t.shape for t in self._output_tensors]
        return shapes[0] if len(shapes) == 1 else shapes

    @Model.trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        for layer in self._layers:
            layer.trainable = value

    def build(self, input_shape=None):
        """A functional model is built when it is created; accepted for compatibility."""
        self.built = True

    def compute_output_shape(self, input_shape):
        return self.output_shape

    # ------------------------------------------------------------------ call
    def _flat_inputs(self, inputs):
        """The model inputs as a list in ``inputs`` order (from a list, dict or one array)."""
        n = len(self._input_tensors)
        if isinstance(inputs, dict):
            names = self._input_keys or self.input_names
            missing = [k for k in names if k not in inputs]
            if missing:
                raise ValueError(
                    f"Model '{self.name}': missing data for input(s) {missing}. You passed a "
                    f"dict with keys {sorted(map(str, inputs))}; expected keys {list(names)}."
                )
            return [inputs[k] for k in names]
        if n == 1:
            if isinstance(inputs, (list, tuple)) and len(inputs) == 1 and (
                    isinstance(inputs[0], (np.ndarray, KerasTensor))
                    or backend.is_device_array(inputs[0])):
                inputs = [inputs[0]]
            elif not isinstance(inputs, (list, tuple)) or not all(
                    isinstance(x, (np.ndarray, KerasTensor)) for x in inputs):
                inputs = [inputs]
            else:
                inputs = list(inputs)
        elif isinstance(inputs, (list, tuple)):
            inputs = list(inputs)
        else:
            inputs = [inputs]
        if len(inputs) != n:
            raise ValueError(
                f"Model '{self.name}' expects {n} input(s) ({self.input_names}), but it received "
                f"{len(inputs)} input tensors."
            )
        return inputs

    def _pack_outputs(self, flat):
        if self._output_keys is not None:
            return dict(zip(self._output_keys, flat))
        if isinstance(self._outputs_struct, (list, tuple)):
            return type(self._outputs_struct)(flat)
        return flat[0]

    def _run_graph(self, flat_inputs, training):
        values = {id(t): x for t, x in zip(self._input_tensors, flat_inputs)}
        for node in self._exec_nodes:
            args = [values[id(t)] for t in node.keras_inputs]
            out = node.layer(args if node.list_call else args[0], training=training)
            values[id(node.output_tensors[0])] = out
        return [values[id(t)] for t in self._output_tensors]

    def _check_input_arrays(self, arrays):
        out = []
        for t, x, name in zip(self._input_tensors, arrays, self.input_names):
            if not backend.is_device_array(x):
                x = to_float_array(x, t.dtype, what=f"input '{name}' of model '{self.name}'")
            shape = tuple(x.shape)
            if len(shape) != len(t.shape) or any(
                    d is not None and d != s for d, s in zip(t.shape[1:], shape[1:])):
                raise ValueError(
                    f"Input '{name}' of model '{self.name}' is incompatible: expected shape "
                    f"{t.shape}, received an array of shape {shape}."
                )
            out.append(x)
        return out

    def __call__(self, inputs, training=False, **kwargs):
        flat = self._flat_inputs(inputs)
        if any(isinstance(x, KerasTensor) for x in flat):
            if not all(isinstance(x, KerasTensor) for x in flat):
                raise ValueError(
                    f"Model '{self.name}' received a mix of symbolic tensors and arrays."
                )
            return self._pack_outputs(self._run_graph(flat, training))
        flat = self._check_input_arrays(flat)
        if self.device != "cpu":
            host = not any(backend.is_device_array(x) for x in flat)
            outs = self._run_graph([backend.to_device(x) for x in flat], training)
            if host:
                outs = [backend.to_host(o) for o in outs]
            return self._pack_outputs(outs)
        return self._pack_outputs(self._run_graph(flat, training))

    def call(self, inputs, training=False):
        return self(inputs, training=training)

    # ------------------------------------------------------------- inference
    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Generates output predictions batch by batch; several outputs give a list (or the
        dict of a dict-output model).

        Args:
            x: input samples: an array, a list of arrays (one per input) or a dict by input name.
            batch_size: samples per batch (default 32).
            verbose: "auto" or 1 (progress bar), 2 (one line), 0 (silent).
            steps: number of batches to run (default: all).
            callbacks: accepted for Keras compatibility; not used by predict.
        """
        from numdense.models import dask_support
        if dask_support.is_dask_input(x):
            return dask_support.predict(self, x, batch_size, verbose, steps, callbacks)
        from numdense.models import batch_stream
        if batch_stream.is_stream(x):
            return batch_stream.predict_stream(self, x, batch_size, verbose, steps)
        from numdense.utils.progbar import Progbar, resolve_verbose

        verbose = resolve_verbose(verbose)
        batch_size = 32 if batch_size is None else batch_size
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size <= 0:
            raise ValueError(
                f"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}")
        flat = self._check_input_arrays(self._flat_inputs(x))
        sizes = {int(a.shape[0]) for a in flat}
        if len(sizes) > 1:
            raise ValueError(
                "Data cardinality is ambiguous: the inputs of model "
                f"'{self.name}' have {sorted(sizes)} samples."
            )
        n = sizes.pop()
        total = -(-n // batch_size)
        if steps is not None:
            total = min(total, int(steps))
        bar = Progbar(total, verbose=verbose) if verbose and total else None
        parts = []
        for step in range(total):
            sl = slice(step * batch_size, (step + 1) * batch_size)
            out = self._run_batch([a[sl] for a in flat])
            parts.append(out)
            if bar:
                bar.update(step + 1)
        if not parts:
            parts = [self._run_batch([a[:0] for a in flat])]
        flat_out = [np.concatenate([p[k] for p in parts], axis=0) if len(parts) > 1
                    else parts[0][k] for k in range(len(self._output_tensors))]
        return self._pack_outputs(flat_out)

    def _run_batch(self, flat):
        if self.device != "cpu":
            outs = self._run_graph([backend.to_device(x) for x in flat], False)
            return [backend.to_host(o) for o in outs]
        return self._run_graph(flat, False)

    # ---------------------------------------------------------------- config
    def get_config(self):
        return graph.functional_config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return graph.functional_from_config(cls, config, custom_objects)
