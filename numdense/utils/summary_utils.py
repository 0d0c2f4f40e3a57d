"""``model.summary()``: the text table of Keras 2.7-2.12."""


def _print_row(fields, positions, print_fn):
    remaining = [str(f) for f in fields]
    while any(remaining):
        line = ""
        for col, text in enumerate(remaining):
            start = positions[col - 1] if col else 0
            last = col == len(positions) - 1
            space = 0 if last else 2
            cutoff = positions[col] - start - space - (0 if last else 1)
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


def print_summary(model, line_length=None, positions=None, print_fn=None, show_trainable=False):
    """Prints a summary of a Sequential-like model, one ``print_fn`` call per line.

    Args:
        model: a built model.
        line_length: total width (default 65, plus 11 with ``show_trainable``).
        positions: column ends, as fractions of ``line_length`` or absolute positions.
        print_fn: function receiving each line (default ``print``).
        show_trainable: add a "Trainable" column (Y/N).
    """
    print_fn = print_fn or print
    line_length = line_length or 65
    positions = list(positions or [0.45, 0.85, 1.0])
    if positions[-1] <= 1:
        positions = [int(line_length * p) for p in positions]
    headers = ["Layer (type)", "Output Shape", "Param #"]
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
        params = layer.count_params() if layer.built else "0 (unbuilt)"
        fields = [f"{layer.name} ({type(layer).__name__})", shape, params]
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
