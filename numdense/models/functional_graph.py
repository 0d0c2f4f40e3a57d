"""The graph of a functional model: tracing, ordering, and its Keras 3 config.

``map_graph`` follows Keras' algorithm: a depth-first walk from the outputs records the nodes
(inputs first) and the first-visit order of the layers; node depth is the longest path to an
output; layers are listed deepest first, ties broken by first-visit order.
"""

from numdense.layers.input_layer import InputLayer
from numdense.layers.symbolic import KerasTensor


def _node_of(tensor):
    layer, node_index, _ = tensor._history
    return layer._inbound_nodes[node_index]


def _walk(inputs, outputs):
    input_ids = {id(t) for t in inputs}
    finished, in_progress, ordered, layer_order = set(), set(), [], {}

    def visit(tensor):
        if tensor._history is None:
            raise ValueError(
                f"Tensor {tensor!r} was not produced by a layer call or `Input()`; a functional "
                "model's tensors must come from `Input` and layer calls."
            )
        node = _node_of(tensor)
        if id(node) in finished:
            return
        if id(node) in in_progress:
            raise ValueError(f"Tensor {tensor!r} from layer '{node.layer.name}' is part of a cycle.")
        layer_order.setdefault(node.layer, len(layer_order))
        in_progress.add(id(node))
        if not node.is_input and id(tensor) not in input_ids:
            for t in node.keras_inputs:
                visit(t)
        finished.add(id(node))
        in_progress.discard(id(node))
        ordered.append(node)

    for t in outputs:
        visit(t)
    return ordered, layer_order


def map_graph(model_name, inputs, outputs):
    """``(network node ids, {depth: [nodes]}, ordered layers)`` for a functional model.

    Raises ValueError for a graph that needs an ``Input`` missing from ``inputs`` (naming it),
    a cycle, or two layers with one name.

    Args:
        model_name: the model's name (for messages).
        inputs: flat list of ``Input`` tensors.
        outputs: flat list of output tensors.
    """
    ordered, layer_order = _walk(inputs, outputs)
    node_depth, layer_depth = {}, {}
    for node in reversed(ordered):
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(node.layer, 0))
        layer_depth[node.layer] = depth
        node_depth[id(node)] = depth
        for parent in node.parent_nodes:
            node_depth[id(parent)] = max(depth + 1, node_depth.get(id(parent), 0))
    by_id = {id(n): n for n in ordered}
    for t in inputs:  # inputs that no output uses still belong to the model
        layer = t._history[0]
        if layer not in layer_depth:
            layer_depth[layer] = 0
            layer_order[layer] = -1
            node = layer._inbound_nodes[0]
            by_id[id(node)] = node
            node_depth[id(node)] = 0
    nodes_by_depth = {}
    for node_id, depth in node_depth.items():
        nodes_by_depth.setdefault(depth, []).append(by_id[node_id])
    layers_by_depth = {}
    for layer, depth in layer_depth.items():
        layers_by_depth.setdefault(depth, []).append(layer)
    layers = []
    for depth in sorted(layers_by_depth, reverse=True):
        layers.extend(sorted(layers_by_depth[depth], key=lambda l: layer_order[l]))

    computable = {id(t) for t in inputs}
    reached = []
    for depth in sorted(nodes_by_depth, reverse=True):
        for node in nodes_by_depth[depth]:
            if node.is_input and id(node.output_tensors[0]) not in computable:
                raise ValueError(
                    f"Graph disconnected: model '{model_name}' needs the value of input "
                    f"'{node.layer.name}' ({node.output_tensors[0]!r}), which is not among the "
                    f"model's `inputs` {[t._history[0].name for t in inputs]}. Add it to "
                    "`inputs`. Layers reached without issue: "
                    f"{reached}"
                )
            for t in node.keras_inputs:
                if id(t) not in computable:
                    raise ValueError(
                        f"Graph disconnected: cannot obtain the value of tensor {t!r} at layer "
                        f"'{node.layer.name}'. Layers reached without issue: {reached}"
                    )
            reached.append(node.layer.name)
            computable.update(id(t) for t in node.output_tensors)
    names = [layer.name for layer in layers]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(
                f'The name "{name}" is used {names.count(name)} times in the model. All layer '
                "names should be unique."
            )
    return {id(n) for n in by_id.values()}, nodes_by_depth, layers


# ---------------------------------------------------------------------- config
def _saved_node_index(layer, node_index, network):
    """The index of node ``node_index`` among the layer's nodes that belong to the model."""
    return sum(1 for n in layer._inbound_nodes[:node_index] if id(n) in network)


def _tensor_ref(tensor, network):
    layer, node_index, tensor_index = tensor._history
    return [layer.name, _saved_node_index(layer, node_index, network), tensor_index]


def _tensor_config(tensor, network):
    return {
        "class_name": "__keras_tensor__",
        "config": {
            "shape": list(tensor.shape),
            "dtype": tensor.dtype,
            "keras_history": _tensor_ref(tensor, network),
        },
    }


def _map_struct(struct, fn):
    if isinstance(struct, dict):
        return {k: _map_struct(v, fn) for k, v in struct.items()}
    if isinstance(struct, (list, tuple)):
        return [_map_struct(v, fn) for v in struct]
    return fn(struct)


def functional_config(model):
    """The Keras 3 config of a functional model (layers with ``inbound_nodes``, input and
    output layers as ``[name, node_index, tensor_index]``)."""
    from numdense.layers import serialize as serialize_layer

    network = model._network_nodes
    layers = []
    for layer in model._layers:
        entry = serialize_layer(layer)
        if not isinstance(layer, InputLayer):
            build_config = layer.get_build_config()
            if build_config:
                entry["build_config"] = build_config
        entry["name"] = layer.name
        nodes = []
        for node in layer._inbound_nodes:
            if id(node) not in network or node.is_input:
                continue
            args = [_tensor_config(t, network) for t in node.keras_inputs]
            nodes.append({"args": [args] if node.list_call else args, "kwargs": {}})
        entry["inbound_nodes"] = nodes
        layers.append(entry)
    return {
        "name": model.name,
        "trainable": model.trainable,
        "layers": layers,
        "input_layers": _map_struct(model._inputs_struct, lambda t: _tensor_ref(t, network)),
        "output_layers": _map_struct(model._outputs_struct, lambda t: _tensor_ref(t, network)),
    }


def _is_ref(value):
    return (isinstance(value, list) and len(value) in (3, 4) and isinstance(value[0], str)
            and all(isinstance(v, int) for v in value[1:3]))


def _lookup(created, ref):
    name, node_index, tensor_index = ref[0], ref[1], ref[2]
    if name not in created:
        raise ValueError(f"Invalid functional config: unknown layer '{name}' in a connection.")
    layer = created[name]
    if node_index >= len(layer._inbound_nodes):
        raise IndexError(name)  # that node is not created yet: retried later
    return layer._inbound_nodes[node_index].output_tensors[tensor_index]


def _node_args(node_data, created):
    """The tensor (or list of tensors) a saved node calls its layer on."""
    if isinstance(node_data, dict):  # Keras 3: {"args": [...], "kwargs": {}}
        args = node_data.get("args") or []
        if node_data.get("kwargs"):
            unsupported = {k: v for k, v in node_data["kwargs"].items() if k != "training"}
            if unsupported:
                raise ValueError(
                    f"Unsupported call arguments in a functional config: {sorted(unsupported)}."
                )
        if len(args) != 1:
            raise ValueError(
                f"Unsupported layer call in a functional config: {len(args)} positional args."
            )

        def resolve(value):
            if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
                return _lookup(created, value["config"]["keras_history"])
            if isinstance(value, list):
                return [resolve(v) for v in value]
            raise ValueError(f"Unsupported layer call argument in a functional config: {value!r}")

        return resolve(args[0])
    if isinstance(node_data, list):  # Keras 2: [[name, node_index, tensor_index, kwargs], ...]
        tensors = []
        for entry in node_data:
            if not _is_ref(entry):
                raise ValueError(f"Invalid inbound node entry in a functional config: {entry!r}")
            if len(entry) == 4 and entry[3]:
                raise ValueError(
                    f"Unsupported call arguments {sorted(entry[3])} in a functional config."
                )
            tensors.append(_lookup(created, entry))
        return tensors[0] if len(tensors) == 1 else tensors
    raise ValueError(f"Invalid inbound node in a functional config: {node_data!r}")


def _resolve_struct(value, created):
    if _is_ref(value):
        return _lookup(created, value)
    if isinstance(value, dict):
        return {k: _resolve_struct(v, created) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_resolve_struct(v, created) for v in value]
    raise ValueError(f"Invalid input/output entry in a functional config: {value!r}")


def functional_from_config(cls, config, custom_objects=None, layer_builder=None):
    """Rebuilds a functional model: creates every layer, then replays the saved calls in
    dependency order (a call whose inputs do not exist yet is retried after the others).

    Args:
        cls: the model class (``Functional``).
        config: the model config (``layers``, ``input_layers``, ``output_layers``, ...).
        custom_objects: optional dict of extra layer classes by name.
        layer_builder: optional function building a layer from its entry (defaults to
            ``numdense.layers.deserialize``).
    """
    from numdense.layers import deserialize

    build = layer_builder or (lambda entry: deserialize(entry, custom_objects))
    created, pending, order = {}, {}, []
    for entry in config["layers"]:
        name = entry.get("name") or (entry.get("config") or {}).get("name")
        entry = dict(entry)
        entry.pop("build_config", None)  # built by the replayed calls
        layer = build(entry)
        if name in created:
            raise ValueError(f"Invalid functional config: layer name '{name}' appears twice.")
        created[name] = layer
        order.append(name)
        nodes = list(entry.get("inbound_nodes") or [])
        if nodes:
            pending[name] = nodes
    while pending:
        progressed = False
        for name in order:
            nodes = pending.get(name)
            while nodes:
                try:
                    args = _node_args(nodes[0], created)
                except IndexError:
                    break
                created[name](args)
                nodes.pop(0)
                progressed = True
            if name in pending and not pending[name]:
                del pending[name]
        if not progressed:
            raise ValueError(
                "Invalid functional model configuration: the graph has loops or disconnected "
                f"nodes; unresolved layer calls: {sorted(pending)}"
            )
    inputs = _resolve_struct(config["input_layers"], created)
    outputs = _resolve_struct(config["output_layers"], created)
    # Keras 2 writes a one-element list of references even for a single input or output.
    if isinstance(inputs, list) and len(inputs) == 1 and isinstance(inputs[0], KerasTensor):
        inputs = inputs[0]
    if isinstance(outputs, list) and len(outputs) == 1 and isinstance(outputs[0], KerasTensor):
        outputs = outputs[0]
    return cls(inputs=inputs, outputs=outputs, name=config.get("name"),
               trainable=config.get("trainable", True))
