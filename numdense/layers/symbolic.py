"""Symbolic tensors and nodes: what a layer records when it is called on ``Input`` tensors.

A ``KerasTensor`` carries a shape (batch dimension ``None``) and a dtype, and remembers the
layer call that produced it, so that models can be traced and layers can answer Keras 2's
``input_shape`` / ``output_shape`` / ``get_input_at(i)`` questions.
"""


class KerasTensor:
    """A symbolic placeholder: shape, dtype and the (layer, node index, tensor index) that
    produced it."""

    def __init__(self, shape, dtype="float32", name=None, history=None):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = str(dtype)
        self.name = name
        if history is not None and len(history) == 2:
            history = (history[0], history[1], 0)
        self._history = history  # (layer, node_index, tensor_index) or None

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"


class Node:
    """One call of a layer: the tensors that went in and came out.

    Args:
        layer: the layer that was called.
        input_tensors: the ``KerasTensor`` arguments, in call order.
        output_tensors: the tensors the call produced.
        list_call: True when the layer was called with a list of tensors (merge layers), so
            that replaying and serializing the call passes a list again.
    """

    def __init__(self, layer, input_tensors, output_tensors, list_call=False):
        self.layer = layer
        self.is_input = not input_tensors
        self._inputs = list(input_tensors)
        self.output_tensors = list(output_tensors)
        self.list_call = bool(list_call)

    @property
    def input_tensors(self):
        # Keras 2 reports an InputLayer's own tensor as its input.
        return list(self.output_tensors) if self.is_input else list(self._inputs)

    @property
    def keras_inputs(self):
        """The tensors that fed this call (none for an ``InputLayer``)."""
        return list(self._inputs)

    @property
    def parent_nodes(self):
        """The nodes whose outputs this node consumes."""
        return [t._history[0]._inbound_nodes[t._history[1]] for t in self._inputs
                if t._history is not None]

    def iterate_inbound(self):
        """``(layer, node_index, tensor_index, tensor)`` for each input tensor."""
        for t in self._inputs:
            layer, node_index, tensor_index = t._history
            yield layer, node_index, tensor_index, t

    @property
    def input_shapes(self):
        shapes = [t.shape for t in self.input_tensors]
        return shapes[0] if len(shapes) == 1 and not self.is_input else shapes

    @property
    def output_shapes(self):
        shapes = [t.shape for t in self.output_tensors]
        return shapes[0] if len(shapes) == 1 and not self.is_input else shapes
