"""The compiled training path for Sequential stacks of Dense layers.

``DenseStackPlan.build`` inspects a model; if every layer is a Dense (builtin activation), a
Dropout after a Dense, an Activation that can be folded into the Dense before it, or a leading
Flatten, it lays out everything one training step needs (address tables of weights, buffers and
optimizer slots, per-layer activation ids, preallocated batch buffers) and ``run`` drives
``numdense.kernels.cpu.sequential.sequential_train_epochs``. Anything else returns None and the
model trains through the per-layer Python path instead.
"""

import numpy as np

from numdense import activations, config
from numdense.kernels import activation_kinds as act
from numdense.kernels import loss_kinds
from numdense.kernels.cpu import sequential as seq
from numdense.kernels.cpu._views import address_table
from numdense.layers.activation import Activation
from numdense.layers.dense import Dense
from numdense.layers.dropout import Dropout
from numdense.layers.flatten import Flatten
from numdense.layers.input_layer import InputLayer

_FOLD = {
    (act.SOFTMAX, loss_kinds.CATEGORICAL_CROSSENTROPY): loss_kinds.CATEGORICAL_CROSSENTROPY_LOGITS,
    (act.SOFTMAX, loss_kinds.SPARSE_CATEGORICAL_CROSSENTROPY):
        loss_kinds.SPARSE_CATEGORICAL_CROSSENTROPY_LOGITS,
    (act.SIGMOID, loss_kinds.BINARY_CROSSENTROPY): loss_kinds.BINARY_CROSSENTROPY_LOGITS,
}


class _Tabled:
    """Arrays (kept alive here) and their address table, which the compiled loop reads."""

    def __init__(self, arrays, dtype):
        self.arrays = list(arrays)
        self.dtype = np.dtype(dtype)
        self.table = address_table(self.arrays, self.dtype)

    def __reduce__(self):
        # A copy's addresses would still point at the original's memory, and copied arrays lose
        # their aliasing (a parameter is a view of a layer weight): refuse rather than mislead.
        raise TypeError("A compiled training plan cannot be copied or pickled; copy the model "
                        "(which rebuilds its plan) instead.")

    def __getitem__(self, i):
        return self.arrays[i]

    def __len__(self):
        return len(self.arrays)

    def __iter__(self):
        return iter(self.arrays)


def _activity_coefficients(layer):
    reg = layer.activity_regularizer
    if reg is None:
        return 0.0, 0.0
    spec = reg.kernel_spec()
    return None if spec is None else spec


def _units(model):
    """[(dense, (kind, p0, p1, p2), dropout_rate)] or None if the model needs the Python path."""
    units = []
    for layer in model.layers:
        if isinstance(layer, InputLayer):
            continue
        if isinstance(layer, Flatten):
            if units or layer.data_format != "channels_last":
                return None
            continue
        if isinstance(layer, Dense):
            spec = activations.kernel_spec(layer.activation or activations.linear)
            if spec is None or _activity_coefficients(layer) is None:
                return None
            units.append([layer, spec, 0.0])
            continue
        if not units:
            return None
        last = units[-1]
        if isinstance(layer, Dropout) and last[2] == 0.0 and layer.noise_shape is None:
            if not 0.0 <= layer.rate < 1.0:
                return None
            last[2] = layer.rate
        elif isinstance(layer, Activation):
            spec = activations.kernel_spec(layer.activation)
            dense = last[0]
            if (spec is None or last[1][0] != act.LINEAR or last[2] != 0.0
                    or dense.activity_regularizer is not None
                    or layer.activity_regularizer is not None):
                return None
            last[1] = spec
        else:
            return None
    return units or None


class DenseStackPlan:
    """Everything a compiled training step needs, preallocated for one batch size."""

    @classmethod
    def build(cls, model, loss, optimizer, batch_size, y_width, flat_gradients=False):
        if getattr(model, "device", "cpu") != "cpu":  # the compiled loop is CPU-only
            return None
        units = _units(model)
        if units is None or any(u[0].dtype != model.dtype for u in units):
            return None
        if len(model.input_shape) > 2 and not isinstance(model.layers[0], Flatten):
            return None
        spec = loss.kernel_spec()
        if spec is None:
            return None
        plan = cls(model, units, spec, optimizer, batch_size, y_width, flat_gradients)
        # Python-only regularizers/constraints, EMA, gradient accumulation or loss scaling cannot
        # run inside the compiled step: those models train through optimizer.apply instead.
        return plan if plan.kernel_only else None

    def __init__(self, model, units, loss_spec, optimizer, batch_size, y_width,
                 flat_gradients=False):
        dtype = np.dtype(model.dtype)
        self.model = model
        self.batch_size = batch_size
        denses = [u[0] for u in units]
        n_layers = len(units)
        widths = [d.units for d in denses]
        empty1 = np.empty(0, dtype)

        def _tabled(arrays):
            return _Tabled(arrays, dtype)

        self.ws = _tabled([d.kernel.value for d in denses])
        self.bs = _tabled([d.bias.value if d.bias is not None else empty1 for d in denses])
        self.kinds = np.array([u[1][0] for u in units], dtype=np.int64)
        self.act_params = np.array([u[1][1:] for u in units], dtype=np.float64).reshape(n_layers, 3)
        self.dropout_rates = np.array([u[2] for u in units], dtype=np.float64)
        coefficients = [_activity_coefficients(d) for d in denses]
        self.act_l1 = np.array([c[0] for c in coefficients], dtype=np.float64)
        self.act_l2 = np.array([c[1] for c in coefficients], dtype=np.float64)

        loss_kind, loss_p0 = loss_spec
        last = n_layers - 1
        folded = _FOLD.get((int(self.kinds[last]), loss_kind))
        self.logits_loss = bool(folded is not None and self.dropout_rates[last] == 0.0
                                and self.act_l1[last] == 0.0 and self.act_l2[last] == 0.0)
        self.loss_kind = folded if self.logits_loss else loss_kind
        self.loss_p0 = float(loss_p0)

        rows = batch_size

        def buffers(width):
            return np.zeros((rows, width), dtype)

        self.xb = buffers(denses[0].kernel.shape[0])
        self.yb = buffers(y_width)
        self.wb = np.zeros(rows, dtype)
        self.zs = _tabled([buffers(w) for w in widths])
        acts = [buffers(w) for w in widths]
        self.acts = _tabled(acts)
        self.outs = _tabled([buffers(w) if r > 0 else a
                            for w, r, a in zip(widths, self.dropout_rates, acts)])
        self.masks = _tabled([buffers(w) if r > 0 else buffers(0)
                             for w, r in zip(widths, self.dropout_rates)])
        self.grads = _tabled([buffers(w) for w in widths])
        self.dzs = _tabled([buffers(w) for w in widths])
        shapes = [(d.kernel.shape, (d.units if d.bias is not None else 0,)) for d in denses]
        if flat_gradients:
            # Every gradient a view of one buffer, plus two trailing slots (the batch loss and
            # a stop flag): what a data-parallel step sums across ranks in one message.
            sizes = [int(np.prod(shape)) for pair in shapes for shape in pair]
            self.grad_flat = np.zeros(sum(sizes) + 2, dtype)
            views, offset = [], 0
            for shape, size in zip([shape for pair in shapes for shape in pair], sizes):
                views.append(self.grad_flat[offset:offset + size].reshape(shape))
                offset += size
            gws, gbs = views[0::2], views[1::2]
        else:
            self.grad_flat = None
            gws = [np.zeros(w, dtype) for w, _ in shapes]
            gbs = [np.zeros(b, dtype) for _, b in shapes]
        self.gws = _tabled(gws)
        self.gbs = _tabled(gbs)

        # Trainable parameters, in model order, as flat views of weights and gradients.
        variables, pgrads = [], []
        for d, gw, gb in zip(denses, self.gws, self.gbs):
            if not d.trainable:
                continue
            variables.append(d.kernel)
            pgrads.append(gw.reshape(-1))
            if d.bias is not None:
                variables.append(d.bias)
                pgrads.append(gb)
        self.optimizer = optimizer
        optimizer.build(variables)
        plan = optimizer.kernel_plan(variables)
        self.kernel_only = plan.kernel_only
        self.opt_kind, self.opt_hp, self.opt_state = plan.kind, plan.hp, plan.state
        if not variables:  # nothing trainable: one inert entry keeps the tables non-empty
            variables, pgrads = [], [empty1]
            self.params = _tabled([empty1])
        else:
            self.params = _tabled([v.value.reshape(-1) for v in variables])
        self.pgrads = _tabled(pgrads)

        def per_param(values, dtype, fill):
            return np.asarray(values, dtype=dtype) if variables else np.full(1, fill, dtype)

        def slots(arrays):
            return _tabled([a if a is not None else empty1 for a in arrays] or [empty1])

        self.slot_m, self.slot_v, self.slot_u = (slots(plan.slot_m), slots(plan.slot_v),
                                                 slots(plan.slot_u))
        self.trainable = np.ones(len(self.params), dtype=np.int64) if variables else np.zeros(1, np.int64)
        self.reg_l1 = per_param(plan.l1, np.float64, 0.0)
        self.reg_l2 = per_param(plan.l2, np.float64, 0.0)
        self.weight_decay = per_param(plan.weight_decay, np.float64, 0.0)
        self.c_kind = per_param(plan.c_kind, np.int64, 0)
        self.c_axis = per_param(plan.c_axis, np.int64, 0)
        self.c_rows = per_param(plan.c_rows, np.int64, 1)
        self.c_cols = per_param(plan.c_cols, np.int64, 1)
        c_params = np.asarray(plan.c_params, dtype=np.float64).reshape(-1, 3)
        if not variables:
            c_params = np.zeros((1, 3))
        self.c_p0, self.c_p1, self.c_p2 = (np.ascontiguousarray(c_params[:, i]) for i in range(3))
        self.iterations = np.zeros(1, dtype=np.int64)
        self._no_preds = np.zeros((0, widths[-1]), dtype)

    @property
    def has_dropout(self):
        return bool((self.dropout_rates > 0).any())

    def seed_dropout(self, seed):
        """Seeds the compiled loop's dropout generator (mixing in the first Dropout's seed)."""
        seeds = [getattr(l, "seed", None) for l in self.model.layers if isinstance(l, Dropout)]
        fixed = next((s for s in seeds if s is not None), None)
        seq.seed_dropout(int(fixed if fixed is not None else seed) % 2**32)

    def _layer_args(self):
        return (
            self.ws.table, self.bs.table, self.kinds, self.act_params, self.dropout_rates,
            self.act_l1, self.act_l2, self.xb, self.yb, self.wb, self.zs.table, self.acts.table,
            self.outs.table, self.masks.table, self.grads.table, self.dzs.table, self.gws.table,
            self.gbs.table, self.loss_kind, self.loss_p0, config.epsilon(), self.logits_loss,
        )

    def _update_args(self):
        return (
            self.params.table, self.pgrads.table, self.slot_m.table, self.slot_v.table,
            self.slot_u.table, self.trainable, self.reg_l1, self.reg_l2, self.weight_decay,
            self.c_kind, self.c_p0, self.c_p1, self.c_p2, self.c_axis, self.c_rows, self.c_cols,
            *self.optimizer.clipping(),
        )

    def _common_args(self):
        return (self.iterations, *self._layer_args(), self.opt_kind, self.opt_hp,
                self.opt_state, *self._update_args())

    def run_epochs(self, x, y, sample_weight, orders, steps, lrs, batch_losses, batch_sizes,
                   stop_on_nan):
        """Runs ``len(orders)`` whole epochs in one call; returns the number of steps run."""
        self.iterations[0] = self.optimizer.iterations
        done = seq.sequential_train_epochs(
            orders, x, y, sample_weight, steps, 0, steps, self.batch_size, lrs,
            *self._common_args(), batch_losses, batch_sizes, self._no_preds, stop_on_nan,
        )
        self.optimizer.iterations = int(self.iterations[0])
        return done

    def run(self, x, y, sample_weight, order, first_step, last_step, lrs, batch_losses,
            batch_sizes, pred_store, stop_on_nan):
        """Runs steps [first_step, last_step) of an epoch; returns the index after the last."""
        opt = self.optimizer
        self.iterations[0] = opt.iterations
        # One epoch of len(lrs) steps through the same compiled entry as whole epochs.
        done = seq.sequential_train_epochs(
            order.reshape(1, -1), x, y, sample_weight, len(lrs), first_step, last_step,
            self.batch_size, lrs, *self._common_args(), batch_losses, batch_sizes, pred_store,
            stop_on_nan,
        )
        opt.iterations = int(self.iterations[0])
        return done

    def gradients(self, x, y, sample_weight, order, start, count, denominator, with_penalties):
        """One batch's gradients (into ``gws`` / ``gbs``) without an update; returns its loss.

        ``denominator`` divides the sample weights (the global batch size when ranks sum their
        gradients); the model output is left in ``outs[-1][:count]``."""
        return seq.sequential_gradients(
            x, y, sample_weight, order, start, count, denominator, with_penalties,
            *self._layer_args(), self.params.table, self.trainable, self.reg_l1, self.reg_l2,
        )

    def update(self, learning_rate):
        """One optimizer step from the gradients in ``gws`` / ``gbs``."""
        opt = self.optimizer
        self.iterations[0] = opt.iterations
        seq.sequential_update(
            self.iterations, float(learning_rate), self.opt_kind, self.opt_hp, self.opt_state,
            *self._update_args(), self.xb,
        )
        opt.iterations = int(self.iterations[0])

    def output(self, count):
        """The model output of the last ``gradients`` call (a view)."""
        return self.outs[len(self.outs) - 1][:count]
