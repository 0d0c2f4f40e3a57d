"""Model state in Keras 3's ``model.weights.h5`` layout.

Layout (as Keras 3 writes it): the group ``vars`` holds the model's own variables (none for a
Sequential), ``layers/<key>/vars/<i>`` each layer's variables, and ``optimizer/vars/<i>`` the
optimizer's variables in ``optimizer.variables`` order. ``<key>`` is the snake-cased class
name, made unique in layer order (``dense``, ``dense_1``, ...), not the layer's own name; every
``vars`` group carries the object's ``name`` as an attribute.

A state is a dict ``{group path: (name, [arrays])}``; ``plan_load`` checks a whole state
against a model before ``apply_plan`` changes anything.
"""

import warnings

import numpy as np

from numdense.saving._h5 import require_h5py
from numdense.utils.naming import to_snake_case


def layer_keys(model):
    """``[(key, layer)]`` for the model's layers, keys as Keras names them in weight files."""
    used, out = {}, []
    for layer in model.layers:
        base = to_snake_case(type(layer).__name__)
        count = used.get(base)
        used[base] = 0 if count is None else count + 1
        out.append((base if count is None else f"{base}_{count + 1}", layer))
    return out


def own_variables(layer):
    """A layer's variables in Keras' saving order: created-trainable first, then the rest."""
    variables = list(layer._variables)
    return [v for v in variables if v.trainable] + [v for v in variables if not v.trainable]


def model_state(model, include_optimizer=True):
    """The state to write for ``model`` (and its optimizer when compiled and requested).

    Args:
        model: a built numdense model.
        include_optimizer: whether to include ``optimizer/vars``.
    """
    state = {"": (model.name, [])}
    for key, layer in layer_keys(model):
        state[f"layers/{key}"] = (layer.name, [v.numpy() for v in own_variables(layer)])
    optimizer = getattr(model, "optimizer", None)
    if include_optimizer and optimizer is not None:
        state["optimizer"] = (optimizer.name, [v.numpy() for v in optimizer.variables])
    return state


def write_state(h5file, state):
    """Writes ``state`` into an open, writable ``h5py.File``."""
    for path, (name, values) in state.items():
        group = h5file.create_group(f"{path}/vars" if path else "vars")
        if name is not None:
            group.attrs["name"] = name
        for i, value in enumerate(values):
            group.create_dataset(str(i), data=np.asarray(value))


def _read_vars(group, where):
    h5py = require_h5py()
    keys = list(group.keys())
    if any(not k.isdigit() for k in keys):
        raise ValueError(f"Invalid weights file: unexpected entries {keys} in '{where}'.")
    values = []
    for i in range(len(keys)):
        link = group.get(str(i), getlink=True)
        if link is None:
            raise ValueError(f"Invalid weights file: '{where}' lacks variable {i}.")
        if not isinstance(link, h5py.HardLink):
            raise ValueError(f"Invalid weights file: '{where}/{i}' is a {type(link).__name__}.")
        dataset = group[str(i)]
        if not isinstance(dataset, h5py.Dataset) or dataset.external or dataset.is_virtual:
            raise ValueError(f"Invalid weights file: '{where}/{i}' is not a plain dataset.")
        values.append(np.asarray(dataset[()]))
    return values


def read_state(h5file):
    """Reads every ``.../vars`` group of an open ``h5py.File`` into a state dict."""
    h5py = require_h5py()
    if "layers" not in h5file and "vars" not in h5file:
        raise ValueError(
            "Not a Keras 3 weights file: it has neither 'layers' nor 'vars' groups "
            f"(top-level entries: {sorted(h5file.keys())[:10]})."
        )
    state = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Group) and name.split("/")[-1] == "vars":
            path = name[: -len("vars")].rstrip("/")
            label = obj.attrs.get("name")
            if isinstance(label, bytes):
                label = label.decode("utf-8")
            state[path] = (label, _read_vars(obj, name))

    h5file.visititems(visit)
    return state


def _shape_problem(variable, value, where):
    if value.dtype == object or value.dtype.kind not in "biuf":
        return f"{where}: stored dtype {value.dtype} is not numeric"
    if tuple(value.shape) != tuple(variable.shape):
        return (f"{where}: variable '{variable.path}' has shape {variable.shape}, the file has "
                f"shape {value.shape}")
    return None


def plan_load(model, state, skip_mismatch=False, build_optimizer=True):
    """Matches ``state`` to the model's variables; returns ``[(variable, array)]``.

    Nothing is assigned here. A missing layer entry, a wrong variable count or shape raises
    ``ValueError`` (or, with ``skip_mismatch``, warns and leaves that layer as it is). The
    optimizer part is used when the model has an optimizer; it is built on the model's
    trainable weights first if needed (``build_optimizer``); a count mismatch there warns and
    skips it, as Keras does.

    Args:
        model: a built numdense model.
        state: the dict from ``read_state``.
        skip_mismatch: warn and skip mismatched layers instead of raising.
        build_optimizer: build an unbuilt optimizer so that its slots can be restored.
    """
    pairs, problems = [], []
    for key, layer in layer_keys(model):
        variables = own_variables(layer)
        path = f"layers/{key}"
        if path not in state:
            if variables:
                problems.append(
                    f"layer '{layer.name}' expects {len(variables)} variables, but the file "
                    f"has no entry '{path}'"
                )
            continue
        values = state[path][1]
        if len(values) != len(variables):
            problems.append(
                f"layer '{layer.name}' ({path}) expects {len(variables)} variables "
                f"{[v.name for v in variables]}, the file has {len(values)}"
            )
            continue
        found = [_shape_problem(v, a, f"layer '{layer.name}'") for v, a in zip(variables, values)]
        found = [p for p in found if p]
        if found:
            problems.extend(found)
            continue
        pairs.extend(zip(variables, values))
    if problems:
        message = "Cannot load weights: " + "; ".join(problems) + "."
        if not skip_mismatch:
            raise ValueError(message)
        warnings.warn(message + " Those layers were skipped.", stacklevel=3)
    pairs.extend(_plan_optimizer(model, state, build_optimizer))
    return pairs


_UNBUILT_OPTIMIZER_VARIABLES = 2  # iteration and learning_rate


def _plan_optimizer(model, state, build_optimizer):
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or "optimizer" not in state:
        return []
    values = state["optimizer"][1]
    if build_optimizer and not optimizer.built and len(values) > len(optimizer.variables):
        optimizer.build(model.trainable_weights)
    variables = optimizer.variables
    if len(values) == _UNBUILT_OPTIMIZER_VARIABLES < len(variables):
        # Saved before any training step: only the step count and learning rate exist, and the
        # slots a built optimizer adds are zeros either way, so those two are all there is.
        variables = variables[:len(values)]
    if len(values) != len(variables):
        warnings.warn(
            f"Skipping variable loading for optimizer '{optimizer.name}', because it has "
            f"{len(variables)} variables whereas the saved optimizer has {len(values)} "
            "variables.",
            stacklevel=4,
        )
        return []
    problems = [_shape_problem(v, a, f"optimizer '{optimizer.name}'")
                for v, a in zip(variables, values)]
    problems = [p for p in problems if p]
    if problems:
        raise ValueError("Cannot load optimizer state: " + "; ".join(problems) + ".")
    return list(zip(variables, values))


def apply_plan(pairs):
    """Assigns every ``(variable, array)`` pair (after ``plan_load`` validated them all)."""
    for variable, value in pairs:
        variable.assign(value)
