"""Symbolic tensors and nodes: what a layer records when it is called on ``Input`` tensors.

A ``KerasTensor`` carries a shape (batch dimension ``None``) and a dtype, and remembers the
layer call that produced it, so that models can be traced and layers can answer Keras 2's
``input_shape`` / ``output_shape`` / ``get_input_at(i)`` questions.
"""


class KerasTensor:
    """A symbolic placeholder: shape, dtype and the (layer, node index) that produced it."""

    def __init__(self, shape, dtype="float32", name=None, history=None):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = str(dtype)
        self.name = name
        self._history = history  # (layer, node_index) or None

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"


class Node:
    """One call of a layer: the tensors that went in and came out."""

    def __init__(self, layer, input_tensors, output_tensors):
        self.layer = layer
        self.input_tensors = list(input_tensors)
        self.output_tensors = list(output_tensors)

    @property
    def input_shapes(self):
        shapes = [t.shape for t in self.input_tensors]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shapes(self):
        shapes = [t.shape for t in self.output_tensors]
        return shapes[0] if len(shapes) == 1 else shapes
