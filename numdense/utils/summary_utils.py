"""``model.summary()``: the text table of Keras 2.7-2.12 (with ``Connected to`` for graphs)."""


def _print_row(fields, positions, print_fn):
    remaining = [str(f) for f in fields]
    while any(remaining):
        line = ""
        for col, text in enumerate(remaining):
            start = positions[col - 1] if col else 0
            last = col == len(positions) - 1
            space = 0 if last else 2
            # Keras 2.7-2.12 leave no extra column here (2.13 added one), so a field that fills
            # its column pushes the rest of that line one character to the right, as there.
            cutoff = positions[col] - start - space
            piece = text[:cutoff]
            # Break long shapes after a closing bracket, as Keras does.
            breaks = [piece.find(t) + len(t) for t in ("),", "},", "],", "',") if piece.find(t) >= 0]
            if breaks:
                cutoff = min(breaks)
                piece = piece[:cutoff]
            if col == 0:
                line += " "
            line += piece + " " * space
            remaining[col] = text[len(piece):]
            line += " " * (positions[col] - len(line))
        print_fn(line)


def _sequential_like(model):
    """Keras 2's test: a Sequential, or a graph where every depth holds one node with at most
    one input and no layer is used twice."""
    by_depth = getattr(model, "_nodes_by_depth", None)
    if by_depth is None:
        return True
    nodes = []
    for depth_nodes in by_depth.values():
        if len(depth_nodes) > 1 or (depth_nodes and len(depth_nodes[0].keras_inputs) > 1):
            return False
        nodes.extend(depth_nodes)
    ids = {id(n) for n in nodes}
    return all(sum(id(n) in ids for n in layer._inbound_nodes) <= 1 for layer in model.layers)


def _connections(layer, model):
    relevant = model._network_nodes
    out = []
    for node in layer._inbound_nodes:
        if id(node) not in relevant:
            continue
        for inbound, node_index, tensor_index, _ in node.iterate_inbound():
            out.append(f"{inbound.name}[{node_index}][{tensor_index}]")
    return out


def print_summary(model, line_length=None, positions=None, print_fn=None, show_trainable=False):
    """Prints a summary of a model, one ``print_fn`` call per line (Keras 2.7-2.12 layout:
    65 columns for sequential-like models, 98 with a ``Connected to`` column for graphs).

    Args:
        model: a built model.
        line_length: total width (default 65 or 98, plus 11 with ``show_trainable``).
        positions: column ends, as fractions of ``line_length`` or absolute positions.
        print_fn: function receiving each line (default ``print``).
        show_trainable: add a "Trainable" column (Y/N).
    """
    print_fn = print_fn or print
    sequential_like = _sequential_like(model)
    if sequential_like:
        line_length = line_length or 65
        positions = list(positions or [0.45, 0.85, 1.0])
        headers = ["Layer (type)", "Output Shape", "Param #"]
    else:
        line_length = line_length or 98
        positions = list(positions or [0.33, 0.55, 0.67, 1.0])
        headers = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
    if positions[-1] <= 1:
        positions = [int(line_length * p) for p in positions]
    if show_trainable:
        line_length += 11
        positions.append(line_length)
        headers.append("Trainable")

    layers = model.layers
    print_fn(f'Model: "{model.name}"')
    print_fn("_" * line_length)
    _print_row(headers, positions, print_fn)
    print_fn("=" * line_length)
    for layer in layers:
        try:
            shape = layer.output_shape
        except (AttributeError, RuntimeError):
            shape = "multiple"
        if sequential_like:
            params = layer.count_params() if layer.built else "0 (unbuilt)"
        else:
            params = layer.count_params()
        fields = [f"{layer.name} ({type(layer).__name__})", shape, params]
        if not sequential_like:
            fields.append(_connections(layer, model))
        if show_trainable:
            fields.append("Y" if layer.trainable else "N")
        _print_row(fields, positions, print_fn)
        print_fn(" " * line_length)
    print_fn("=" * line_length)
    trainable = sum(v.size for v in model.trainable_weights)
    non_trainable = sum(v.size for v in model.non_trainable_weights)
    print_fn(f"Total params: {trainable + non_trainable:,}")
    print_fn(f"Trainable params: {trainable:,}")
    print_fn(f"Non-trainable params: {non_trainable:,}")
    print_fn("_" * line_length)
