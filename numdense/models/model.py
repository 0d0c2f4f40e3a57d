"""``Model``: what every numdense model shares (weights, inference, summary)."""

import numpy as np

from numdense.layers.layer import Layer, to_float_array
from numdense.models.trainer import Trainer
from numdense.utils import summary_utils
from numdense.utils.progbar import Progbar, resolve_verbose


class Model(Trainer, Layer):
    """Base class of numdense models: a layer made of layers.

    Subclasses provide ``layers`` and ``call``. The model owns no weights of its own: ``weights``
    and friends gather them from ``layers`` (deduplicated, in layer order).
    """

    def __new__(cls, *args, **kwargs):
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            from numdense.models.functional import Functional

            return object.__new__(Functional)  # Python then runs Functional.__init__
        return object.__new__(cls)

    def __init__(self, *args, **kwargs):
        if args or "inputs" in kwargs or "outputs" in kwargs:
            raise NotImplementedError(
                f"{type(self).__name__}(inputs, outputs): subclassed functional models are not "
                "supported by numdense; use `Model(inputs, outputs)`."
            )
        super().__init__(**kwargs)

    @property
    def layers(self):
        return []

    @property
    def device(self):
        """Where the model's weights live: the device in force when its layers were built
        (``"cpu"`` for a model without weights)."""
        for layer in self.layers:
            found = getattr(layer, "device", None) if isinstance(layer, Model) else getattr(
                layer, "_device", None)
            if found in ("cuda",):
                return found
        return "cpu"

    def _gather(self, attr):
        seen, out = set(), []
        for layer in self.layers:
            for v in getattr(layer, attr):
                if id(v) not in seen:
                    seen.add(id(v))
                    out.append(v)
        return out

    @property
    def trainable_weights(self):
        return self._gather("trainable_weights") if self.trainable else []

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self._gather("weights")
        return self._gather("non_trainable_weights")

    @property
    def weights(self):
        return self._gather("weights")

    @property
    def variables(self):
        return self._gather("variables")

    def count_params(self):
        if not self.built:
            raise ValueError(
                f"You tried to call `count_params` on model '{self.name}', but the model isn't "
                f"built. You can build it manually via: `model.build(input_shape)`."
            )
        return int(sum(v.size for v in self.weights))

    @property
    def losses(self):
        out = []
        for layer in self.layers:
            out.extend(layer.losses)
        return out

    def get_layer(self, name=None, index=None):
        """A layer by name or by index (Keras' errors for both, neither or a miss)."""
        if index is not None and name is not None:
            raise ValueError(
                f"Provide only a layer name or a layer index. Received: index={index}, name={name}."
            )
        if index is not None:
            if not -len(self.layers) <= index < len(self.layers):
                raise ValueError(
                    f"Was asked to retrieve layer at index {index} but model only has "
                    f"{len(self.layers)} layers."
                )
            return self.layers[index]
        if name is not None:
            for layer in self.layers:
                if layer.name == name:
                    return layer
            raise ValueError(
                f"No such layer: {name}. Existing layers are: {[l.name for l in self.layers]}."
            )
        raise ValueError("Provide either a layer name or layer index at `get_layer`.")

    # ------------------------------------------------------------- inference
    def predict_on_batch(self, x):
        """Returns predictions for one batch of samples (no batching, no progress bar)."""
        return self(x)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Generates output predictions for the input samples, batch by batch.

        Args:
            x: input samples (array-like).
            batch_size: samples per batch (default 32).
            verbose: "auto" or 1 (progress bar), 2 (one line), 0 (silent).
            steps: number of batches to run (default: all).
            callbacks: accepted for Keras compatibility; not used by predict.

        Returns:
            NumPy array of predictions.
        """
        from numdense.models import dask_support
        if dask_support.is_dask_input(x):
            return dask_support.predict(self, x, batch_size, verbose, steps, callbacks)
        from numdense.models import batch_stream
        if batch_stream.is_stream(x):
            return batch_stream.predict_stream(self, x, batch_size, verbose, steps)
        verbose = resolve_verbose(verbose)
        batch_size = 32 if batch_size is None else batch_size
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
            raise ValueError(f"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}")
        x = to_float_array(x, self.dtype, what="the input of predict")
        if x.ndim == 0:
            raise ValueError(
                f"Model '{self.name}' expects batched inputs for predict (a first axis of "
                "samples); received a scalar."
            )
        n = x.shape[0]
        total_steps = -(-n // batch_size)
        if steps is not None:
            total_steps = min(total_steps, int(steps))
        bar = Progbar(total_steps, verbose=verbose) if verbose and total_steps else None
        outputs = []
        step = 0
        while step < total_steps:
            stop = min(total_steps, step + self._predict_steps_per_call(batch_size))
            outputs.append(self(x[step * batch_size:stop * batch_size]))
            step = stop
            if bar:
                bar.update(step)
        if not outputs:
            return self(x[:0])
        return outputs[0] if len(outputs) == 1 else np.concatenate(outputs, axis=0)

    def _predict_steps_per_call(self, batch_size):
        """How many batches of ``predict`` one call of the model may run together: 1 here;
        a model whose output rows do not depend on the rest of their batch may take more."""
        return 1

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        """Prints a string summary of the network (Keras 2.7-2.12 text table).

        Args:
            line_length: total length of printed lines (default 65).
            positions: relative or absolute positions of the column ends.
            print_fn: function called with each line (default ``print``).
            expand_nested: accepted for compatibility (no nested models yet).
            show_trainable: add a column telling whether each layer is trainable.
            layer_range: accepted for compatibility; must be None.
        """
        if not self.built:
            raise ValueError(
                "This model has not yet been built. Build the model first by calling `build()` "
                "or by calling the model on a batch of data."
            )
        summary_utils.print_summary(self, line_length=line_length, positions=positions,
                                    print_fn=print_fn, show_trainable=show_trainable)

    # ---------------------------------------------------------------- saving
    def save(self, filepath, overwrite=True, zipped=None, **kwargs):
        """Saves the model (config, weights, optimizer state) to ``.keras`` or legacy ``.h5``.

        Args:
            filepath: path ending in ``.keras`` (or ``.h5``).
            overwrite: whether an existing file may be replaced.
            zipped: None or True (numdense writes zipped archives).
            **kwargs: ``include_optimizer`` for ``.h5``.

        Under an ``MPIStrategy`` only rank 0 writes (the replicas are identical).
        """
        from numdense import saving

        if not self._writes_files():
            return
        saving.save_model(self, filepath, overwrite=overwrite, zipped=zipped, **kwargs)

    def save_weights(self, filepath, overwrite=True):
        """Saves the weights (and optimizer state) to a ``.weights.h5`` file.

        Args:
            filepath: path ending in ``.weights.h5``.
            overwrite: whether an existing file may be replaced.

        Under an ``MPIStrategy`` only rank 0 writes (the replicas are identical).
        """
        from numdense import saving

        if not self._writes_files():
            return
        saving.save_weights(self, filepath, overwrite=overwrite)

    def _writes_files(self):
        strategy = self._distribute_strategy
        return strategy is None or strategy.is_chief

    def load_weights(self, filepath, skip_mismatch=False):
        """Loads weights from ``.weights.h5``, ``.keras`` or legacy ``.h5``; all or nothing.

        Args:
            filepath: the file.
            skip_mismatch: warn and skip mismatched layers instead of raising.
        """
        from numdense import saving

        saving.load_weights(self, filepath, skip_mismatch=skip_mismatch)

    def __reduce__(self):
        from numdense.saving.pickling import reduce_model

        return reduce_model(self)

    def to_json(self, **kwargs):
        """The model's Keras 3 JSON config; ``**kwargs`` go to ``json.dumps``."""
        from numdense import saving

        return saving.to_json(self, **kwargs)

    def get_compile_config(self):
        """The serialized ``compile`` arguments, or None when the model is not compiled."""
        from numdense import saving

        return saving.get_compile_config(self)

    def compile_from_config(self, config):
        """Compiles the model from ``get_compile_config()`` output.

        Args:
            config: the compile config dict.
        """
        from numdense import saving

        saving.compile_from_config(self, config)
