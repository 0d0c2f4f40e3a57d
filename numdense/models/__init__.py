"""Models: ``Model``, ``Sequential``, ``Functional`` (``Model(inputs, outputs)``);
``load_model`` and ``model_from_json``."""

from numdense.models.functional import Functional
from numdense.models.model import Model
from numdense.models.sequential import Sequential


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Loads a model from a ``.keras`` or legacy ``.h5`` file (numdense's or Keras').

    Args:
        filepath: path to the file.
        custom_objects: optional dict of extra layer classes by name.
        compile: restore the compile config and optimizer state when present.
        safe_mode: accepted for Keras compatibility.
    """
    from numdense import saving

    return saving.load_model(filepath, custom_objects=custom_objects, compile=compile,
                             safe_mode=safe_mode)


def model_from_json(json_string, custom_objects=None):
    """Builds a model from the JSON of ``model.to_json()`` (numdense's or Keras').

    Args:
        json_string: the JSON text.
        custom_objects: optional dict of extra layer classes by name.
    """
    from numdense import saving

    return saving.model_from_json(json_string, custom_objects=custom_objects)


__all__ = ["Functional", "Model", "Sequential", "load_model", "model_from_json"]
