"""``Optimizer``: the Keras 3 optimizer base, with every update done by Numba kernels.

One ``apply(grads, variables)`` runs Keras' steps in Keras' order: build if needed, drop
``None`` gradients, unscale by ``loss_scale_factor``, (gradient accumulation), clip
(``clipnorm`` per tensor, ``global_clipnorm``, ``clipvalue``), decoupled weight decay
``w -= w*wd*lr``, the update rule, EMA, constraints, ``iterations += 1``. The regularizer
gradient ``l1*sign(w) + 2*l2*w`` is part of the loss gradient, so it is added before clipping.
The kernels (``numdense.kernels.cpu.optimizers``) do all array arithmetic; ``kernel_plan``
hands the same arrays to a compiled training loop.
"""

import re
import warnings

import numpy as np

from .. import backend, config
from ..kernels import optimizer_kinds as kinds
from ..kernels.cpu import constraints as _ck
from ..kernels.cpu import optimizers as _k
from ..utils.naming import to_snake_case, uniquify
from ..variables import Variable
from . import schedules


class KernelPlan:
    """What a compiled training loop needs to run ``apply`` itself (see ``kernel_plan``).

    Attributes (P = number of variables, in the order given):
        kind: int, a ``numdense.kernels.optimizer_kinds`` id.
        hp: float64 (HP_SIZE,) hyperparameters (layout in ``optimizer_kinds``).
        state: float64 (STATE_SIZE,) optimizer-wide state, live (advanced in place by
            ``optimizer_begin_step``; Nadam's ``u_product`` variable is a view of it).
        weights: list of P 1-D views of the variables' values (updated in place).
        slot_m, slot_v, slot_u: lists of P 1-D views of the slot variables (live), a
            length-0 array of the variable's dtype where the kind does not use that slot.
        l1, l2: float64 (P,) regularizer coefficients for the kernel (0 where none, or where
            the regularizer has no kernel form: see ``python_regularizers``).
        weight_decay: float64 (P,) decoupled decay per variable (0 = none or excluded).
        c_kind, c_axis, c_rows, c_cols: int64 (P,) constraint id, axis mode and the 2-D view
            ``(rows, cols)`` of the flat weight the constraint kernel works on.
        c_params: float64 (P, 3) constraint parameters ``p0, p1, p2``.
        python_regularizers: dict index -> regularizer without kernel form (must run
            ``add_gradient`` before the norm/update).
        python_constraints: dict index -> constraint without kernel form (call after update).
        clipvalue, clipnorm, global_clipnorm: floats, 0.0 = off.
        loss_scale_factor: float, 1.0 = none (divide gradients by it first).
        use_ema: bool; ema_momentum, ema_overwrite_frequency: as the constructor.
        gradient_accumulation_steps: int, 0 = none.
        kernel_only: True when the per-step calls documented in ``Optimizer.kernel_plan``
            reproduce ``apply`` exactly (no Python regularizer/constraint, no EMA, no gradient
            accumulation, no loss scaling, ``config.epsilon() == 1e-7``).
    """

    def __init__(self, **fields):
        self.__dict__.update(fields)

    def __repr__(self):
        return f"<KernelPlan kind={kinds.NAMES.get(self.kind)} variables={len(self.weights)}>"


def _flat(array):
    return array.reshape(array.size)


class Optimizer:
    """Base class of optimizers.

    A subclass sets ``KIND`` (an ``optimizer_kinds`` id), implements ``build`` (creating its
    slots with ``add_optimizer_variables``), ``_kernel_hp()`` (the ``hp`` array),
    ``_kernel_slots()`` (its ``(m, v, u)`` slot lists) and ``get_config``. A subclass with
    ``KIND = None`` implements ``update_step(gradient, variable, learning_rate)`` in Python
    instead (clipping, weight decay and constraints still run in kernels).

    Args:
        learning_rate: a float, a ``LearningRateSchedule``, or a callable with no arguments
            returning the learning rate.
        weight_decay: float; if set, ``w -= w * weight_decay * lr`` before each update.
        clipnorm: float; clip each gradient to this L2 norm.
        clipvalue: float; clip each gradient element to ``[-clipvalue, clipvalue]``.
        global_clipnorm: float; clip all gradients together to this global L2 norm.
        use_ema: whether to keep an exponential moving average of the weights.
        ema_momentum: the EMA momentum, in [0, 1].
        ema_overwrite_frequency: int or None; overwrite the weights with their average every
            this many steps.
        loss_scale_factor: float or None; the loss is multiplied by it (``scale_loss``) and
            the gradients divided by it.
        gradient_accumulation_steps: int >= 2 or None; update every this many calls, with
            the mean of the gradients since the last update.
        name: name of the optimizer (default: the snake-cased class name, made unique).
        **kwargs: only the legacy ``decay``, which is ignored with a warning.
    """

    KIND = None

    def __init__(
        self,
        learning_rate,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        use_ema=False,
        ema_momentum=0.99,
        ema_overwrite_frequency=None,
        loss_scale_factor=None,
        gradient_accumulation_steps=None,
        name=None,
        **kwargs,
    ):
        if kwargs.pop("decay", None) is not None:
            warnings.warn("Argument `decay` is no longer supported and will be ignored.")
        if kwargs:
            raise ValueError(f"Argument(s) not recognized: {kwargs}")
        self.name = name if name is not None else uniquify(to_snake_case(type(self).__name__))
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.global_clipnorm = global_clipnorm
        self.clipvalue = clipvalue
        self.use_ema = use_ema
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps
        if gradient_accumulation_steps:
            if not gradient_accumulation_steps >= 2:
                raise ValueError(
                    "`gradient_accumulation_steps` must be an integer >= 2. "
                    f"Received: gradient_accumulation_steps={gradient_accumulation_steps}"
                )
        if use_ema:
            if ema_momentum > 1 or ema_momentum < 0:
                raise ValueError(
                    f"`ema_momentum` must be in the range [0, 1]. Received: ema_momentum={ema_momentum}"
                )
            if ema_overwrite_frequency and (
                not isinstance(ema_overwrite_frequency, int) or ema_overwrite_frequency < 1
            ):
                raise ValueError(
                    "`ema_overwrite_frequency` must be an integer >= 1 or None. "
                    f"Received: ema_overwrite_frequency={ema_overwrite_frequency}"
                )
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        if sum(a is not None for a in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(
                "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can "
                f"be set. Received: clipnorm={clipnorm}, "
                f"clipvalue={clipvalue}, global_clipnorm={global_clipnorm}"
            )
        self.built = False
        self._variables = []
        self._trainable_variables = []
        self._trainable_variables_indices = {}
        self._state = kinds.initial_state(self.KIND if self.KIND is not None else -1)
        self._iterations = self._new_variable(np.zeros((), np.int64), "iteration")
        self._learning_rate = None
        self._learning_rate_var = None
        if isinstance(learning_rate, schedules.LearningRateSchedule) or callable(learning_rate):
            self._learning_rate = learning_rate
        else:
            if not isinstance(learning_rate, float):
                raise ValueError(
                    "Argument `learning_rate` should be float, or an instance "
                    "of LearningRateSchedule, or a callable "
                    "(that takes in the current iteration value "
                    "and returns the corresponding learning rate value). "
                    f"Received instead: learning_rate={learning_rate}"
                )
            self._learning_rate_var = self._new_variable(
                np.array(learning_rate, dtype=config.floatx()), "learning_rate"
            )

    # ------------------------------------------------------------------ variables
    def _new_variable(self, value, name, track=True, device="cpu"):
        var = Variable(value, name=name, path=f"{self.name}/{name}", trainable=False,
                       device=device)
        if track:
            self._variables.append(var)
        return var

    def add_variable_from_reference(self, reference_variable, name=None, initializer=0.0):
        """Adds a slot variable of ``reference_variable``'s shape and dtype.

        Args:
            reference_variable: the model ``Variable``.
            name: slot name; the variable is named ``{reference path with / -> _}_{name}``.
            initializer: the constant the slot starts at.

        Returns:
            The new ``Variable`` (tracked in ``variables``).
        """
        name = name or "var"
        ref = getattr(reference_variable, "path", None) or str(reference_variable.name)
        value = np.full(reference_variable.shape, initializer, dtype=reference_variable.dtype)
        # A slot lives where its variable lives (a GPU model keeps its optimizer state there).
        return self._new_variable(value, f"{ref.replace('/', '_').replace(':', '_')}_{name}",
                                  device=getattr(reference_variable, "device", "cpu"))

    def add_optimizer_variables(self, trainable_variables, name, initializer=0.0):
        """Adds one slot per variable for each name, interleaved per variable as Keras does.

        Args:
            trainable_variables: the model variables.
            name: a slot name, or a list of names.
            initializer: the constant the slots start at (or one per name).

        Returns:
            A list of slots (one name), or a tuple of lists (a list of names).
        """
        names = [name] if isinstance(name, str) else list(name)
        inits = initializer if isinstance(initializer, (list, tuple)) else [initializer] * len(names)
        out = tuple([] for _ in names)
        for variable in trainable_variables:
            for i, (n, init) in enumerate(zip(names, inits)):
                out[i].append(self.add_variable_from_reference(variable, n, init))
        return out[0] if isinstance(name, str) else out

    def build(self, variables):
        """Creates the optimizer's variables for ``variables`` (keyed by identity).

        Args:
            variables: list of the model's trainable ``Variable``s.
        """
        variables = list(variables)
        for v in variables:
            if np.dtype(v.dtype).kind != "f":
                raise ValueError(
                    f"Optimizers update float variables only. Received: {v!r}"
                )
        if self.use_ema:
            self._model_variables_moving_average = self.add_optimizer_variables(
                variables, "average"
            )
        if self.gradient_accumulation_steps:
            self._accumulated_gradients = self.add_optimizer_variables(
                variables, "gradient_accumulator"
            )
        for i, variable in enumerate(variables):
            self._trainable_variables_indices[id(variable)] = i
        self._trainable_variables = variables[:]
        self.built = True

    @property
    def variables(self):
        """The optimizer's variables: iterations, learning rate (for a float rate), slots."""
        return self._variables[:]

    def count_params(self):
        """Total number of scalars in ``variables`` (the "Optimizer params" of a summary)."""
        return int(sum(v.size for v in self._variables))

    def _get_variable_index(self, variable):
        return self._trainable_variables_indices[id(variable)]

    def _check_variables_are_known(self, variables):
        for v in variables:
            if id(v) not in self._trainable_variables_indices:
                raise ValueError(
                    f"Unknown variable: {v}. This optimizer can only "
                    "be called for the variables it was originally built with. "
                    "When working with a new set of variables, you should "
                    "recreate a new optimizer instance."
                )

    def set_weights(self, weights):
        """Sets the optimizer's variables from a list of arrays (as ``variables`` orders them).

        Args:
            weights: list of arrays.
        """
        if not self.built:
            raise ValueError(
                "You are calling `set_weights()` on an optimizer that has not "
                "yet been built. Please call "
                "`optimizer.build(trainable_variables)` to create the "
                "optimizer weights before calling `set_weights()`."
            )
        for variable, weight in zip(self._variables, weights):
            weight = np.asarray(weight)
            if variable.shape != weight.shape:
                raise ValueError(
                    f"Optimizer variable {variable.path} has shape "
                    f"{variable.shape} not compatible with provided "
                    f"weight shape {weight.shape}."
                )
            variable.assign(weight)

    def save_own_variables(self, store):
        """Writes the variables' values into ``store`` under keys ``"0"``, ``"1"``, ...

        Args:
            store: a dict-like object.
        """
        for i, variable in enumerate(self._variables):
            store[str(i)] = variable.numpy()

    def load_own_variables(self, store):
        """Reads the variables' values written by ``save_own_variables``.

        Args:
            store: a dict-like object.
        """
        if len(store.keys()) != len(self._variables):
            msg = (
                f"Skipping variable loading for optimizer '{self.name}', "
                f"because it has {len(self._variables)} variables whereas "
                f"the saved optimizer has {len(store.keys())} variables. "
            )
            if len(self._variables) == 0:
                msg += "This is likely because the optimizer has not been called/built yet."
            warnings.warn(msg, stacklevel=2)
            return
        for i, variable in enumerate(self._variables):
            variable.assign(store[str(i)])

    # -------------------------------------------------------- iterations and lr
    @property
    def iterations(self):
        """Number of updates applied (with gradient accumulation: of accumulated updates).

        Settable (a numdense extension, for compiled loops that advance it themselves).
        """
        raw = int(self._iterations.value)
        if self.gradient_accumulation_steps:
            return raw // self.gradient_accumulation_steps
        return raw

    @iterations.setter
    def iterations(self, value):
        value = int(value)
        if self.gradient_accumulation_steps:
            k = self.gradient_accumulation_steps
            value = value * k + int(self._iterations.value) % k
        self._iterations.assign(np.int64(value))

    @property
    def learning_rate(self):
        """The current learning rate as a float (a schedule is evaluated at ``iterations``).

        Settable to a float (not when built with a schedule), a schedule or a callable.
        """
        return self._get_current_learning_rate()

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        if isinstance(learning_rate, schedules.LearningRateSchedule) or callable(learning_rate):
            self._learning_rate = learning_rate
            if self._learning_rate_var is not None:
                self._variables.remove(self._learning_rate_var)
                self._learning_rate_var = None
            return
        if isinstance(self._learning_rate, schedules.LearningRateSchedule):
            raise TypeError(
                "This optimizer was created with a `LearningRateSchedule`"
                " object as its `learning_rate` constructor argument, "
                "hence its learning rate is not settable. If you need the"
                " learning rate to be settable, you should instantiate "
                "the optimizer with a float `learning_rate` argument."
            )
        if self._learning_rate_var is None:
            self._learning_rate = None
            self._learning_rate_var = self._new_variable(
                np.zeros((), config.floatx()), "learning_rate", track=False
            )
            self._variables.insert(1, self._learning_rate_var)
        self._learning_rate_var.assign(np.asarray(float(learning_rate)))

    def _get_current_learning_rate(self):
        if self._learning_rate_var is not None:
            return float(self._learning_rate_var.value)
        if isinstance(self._learning_rate, schedules.LearningRateSchedule):
            return float(self._learning_rate(int(self._iterations.value)))
        return float(self._learning_rate())

    def learning_rates(self, start_iteration, n_steps):
        """The learning rate of each of the next ``n_steps`` updates, as float64 (n_steps,).

        Entry ``s`` is the rate ``apply`` uses when ``iterations == start_iteration + s``
        (a schedule is evaluated at that 0-based step, vectorised over the steps).

        Args:
            start_iteration: the ``iterations`` value before the first of the steps.
            n_steps: number of steps.
        """
        n = int(n_steps)
        if self._learning_rate_var is not None:
            return np.full(n, float(self._learning_rate_var.value))
        if not isinstance(self._learning_rate, schedules.LearningRateSchedule):
            return np.full(n, float(self._learning_rate()))
        steps = np.arange(int(start_iteration), int(start_iteration) + n, dtype=np.int64)
        try:
            out = np.asarray(self._learning_rate(steps), dtype=np.float64)
        except Exception:
            out = None
        if out is None or out.shape != (n,):
            out = np.array([float(self._learning_rate(int(s))) for s in steps], np.float64)
        return out

    # ------------------------------------------------------------ weight decay
    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Excludes variables from the decoupled weight decay.

        Args:
            var_list: list of ``Variable``s to exclude.
            var_names: list of strings; a variable whose ``name`` contains one of them (regex
                search) is excluded.
        """
        self._excluded_variables = list(var_list) if var_list else []
        self._exclude_from_weight_decay = set(id(v) for v in self._excluded_variables)
        if var_names and len(var_names) > 0:
            self._exclude_from_weight_decay_pattern = re.compile("|".join(set(var_names)))
        else:
            self._exclude_from_weight_decay_pattern = None

    def _use_weight_decay(self, variable):
        if id(variable) in getattr(self, "_exclude_from_weight_decay", set()):
            return False
        pattern = getattr(self, "_exclude_from_weight_decay_pattern", None)
        if pattern is not None and re.search(pattern, variable.name) is not None:
            return False
        return True

    def _weight_decay_of(self, variable):
        if self.weight_decay is None or not self._use_weight_decay(variable):
            return 0.0
        return float(self.weight_decay)

    # -------------------------------------------------------------- clipping
    def clipping(self):
        """``(clipvalue, clipnorm, global_clipnorm)`` as floats, 0.0 for an unset option."""
        def value(x):
            return float(x) if x and x > 0 else 0.0

        return value(self.clipvalue), value(self.clipnorm), value(self.global_clipnorm)

    def _clip_gradients(self, grads):
        """Returns clipped copies of ``grads`` (float arrays), as Keras' ``_clip_gradients``.

        Args:
            grads: list of arrays (or None).
        """
        clipvalue, clipnorm, global_clipnorm = self.clipping()
        out = []
        for g in grads:
            if g is None:
                out.append(None)
                continue
            g = np.asarray(g)
            out.append(np.array(g, dtype=g.dtype if g.dtype.kind == "f" else config.floatx(),
                                order="C", copy=True))
        live = [g for g in out if g is not None]
        scale = 1.0
        if global_clipnorm > 0.0:
            scale = _k.global_clip_scale(sum(_k.grad_sq_norm(g) for g in live), global_clipnorm)
        for g in live:
            f = _flat(g)
            _k.grad_transform_into(f, f, 0.0, 0.0, clipvalue, clipnorm, float(scale))
        return out

    def scale_loss(self, loss):
        """Returns ``loss * loss_scale_factor`` (``loss`` when no factor is set).

        Args:
            loss: the loss value.
        """
        if self.loss_scale_factor is not None:
            return loss * self.loss_scale_factor
        return loss

    # ------------------------------------------------------------ kernel form
    def _kernel_hp(self):
        return kinds.pack_hp()

    def _kernel_slots(self):
        """``(m, v, u)``: lists of slot variables per trainable variable, [] when unused."""
        return [], [], []

    def _specs(self, variable):
        """Regularizer ``(l1, l2, python_regularizer)`` and constraint spec of ``variable``."""
        l1 = l2 = 0.0
        py_reg = None
        reg = getattr(variable, "regularizer", None)
        if reg is not None:
            spec = reg.kernel_spec() if hasattr(reg, "kernel_spec") else None
            if spec is None:
                py_reg = reg
            else:
                l1, l2 = float(spec[0]), float(spec[1])
        cspec = (_ck.NONE, 0.0, 0.0, 0.0, _ck.AXIS_ALL, 1, max(variable.size, 1))
        py_con = None
        con = getattr(variable, "constraint", None)
        if con is not None:
            spec = con.kernel_spec(variable.shape) if hasattr(con, "kernel_spec") else None
            if spec is None:
                py_con = con
            else:
                kind, p0, p1, p2, axis, (rows, cols) = spec
                cspec = (int(kind), float(p0), float(p1), float(p2), int(axis), int(rows), int(cols))
        return l1, l2, py_reg, cspec, py_con

    def _slot_arrays(self, index, variable):
        empty = backend.empty(0, variable.dtype, getattr(variable, "device", "cpu"))
        return tuple(
            _flat(slots[index].value) if slots else empty for slots in self._kernel_slots()
        )

    def kernel_plan(self, variables=None):
        """The arrays and scalars a compiled loop needs to run ``apply`` with the kernels.

        Builds the optimizer on ``variables`` if needed. Per step ``s`` (0-based from the
        current ``iterations``), with gradients ``g[i]`` (1-D, without regularizer term,
        overwritten) and ``lrs = learning_rates(iterations, n_steps)``::

            t = iterations + s + 1
            scale = 1.0
            if plan.global_clipnorm > 0:
                sq = sum(grad_sq_norm_with_reg(plan.weights[i], g[i], plan.l1[i], plan.l2[i]))
                scale = global_clip_scale(sq, plan.global_clipnorm)
            optimizer_begin_step(plan.kind, plan.hp, plan.state, t)
            for i: optimizer_update_into(plan.kind, plan.weights[i], g[i], plan.slot_m[i],
                plan.slot_v[i], plan.slot_u[i], plan.hp, plan.state, lrs[s], t, plan.l1[i],
                plan.l2[i], plan.clipvalue, plan.clipnorm, scale, plan.weight_decay[i],
                plan.c_kind[i], *plan.c_params[i], plan.c_axis[i], plan.c_rows[i],
                plan.c_cols[i])

        then ``optimizer.iterations += n_steps``. This reproduces ``apply`` when
        ``plan.kernel_only``; otherwise (EMA, gradient accumulation, loss scaling, Python
        regularizers or constraints) use ``apply``. All arrays are live views of the optimizer's
        and model's variables, so a plan stays valid until the optimizer is rebuilt.

        Args:
            variables: the trainable variables, in the order the loop passes gradients
                (default: those the optimizer was built with).

        Returns:
            A ``KernelPlan``.
        """
        if self.KIND is None:
            raise NotImplementedError(
                f"{type(self).__name__} has no kernel form (its `update_step` is Python)."
            )
        if variables is None:
            variables = self._trainable_variables
        variables = list(variables)
        if not self.built:
            self.build(variables)
        self._check_variables_are_known(variables)
        n = len(variables)
        l1 = np.zeros(n)
        l2 = np.zeros(n)
        wd = np.zeros(n)
        c_kind = np.zeros(n, np.int64)
        c_axis = np.zeros(n, np.int64)
        c_rows = np.ones(n, np.int64)
        c_cols = np.ones(n, np.int64)
        c_params = np.zeros((n, 3))
        py_regs, py_cons = {}, {}
        weights, slot_m, slot_v, slot_u = [], [], [], []
        for i, v in enumerate(variables):
            l1[i], l2[i], py_reg, cspec, py_con = self._specs(v)
            if py_reg is not None:
                py_regs[i] = py_reg
            if py_con is not None:
                py_cons[i] = py_con
            c_kind[i], c_params[i, 0], c_params[i, 1], c_params[i, 2] = cspec[:4]
            c_axis[i], c_rows[i], c_cols[i] = cspec[4:]
            wd[i] = self._weight_decay_of(v)
            weights.append(_flat(v.value))
            m, vv, u = self._slot_arrays(self._get_variable_index(v), v)
            slot_m.append(m)
            slot_v.append(vv)
            slot_u.append(u)
        clipvalue, clipnorm, global_clipnorm = self.clipping()
        kernel_only = not (
            py_regs or py_cons or self.use_ema or self.gradient_accumulation_steps
            or self.loss_scale_factor is not None or config.epsilon() != 1e-7
        )
        return KernelPlan(
            kind=self.KIND, hp=self._kernel_hp(), state=self._state, weights=weights,
            slot_m=slot_m, slot_v=slot_v, slot_u=slot_u, l1=l1, l2=l2, weight_decay=wd,
            c_kind=c_kind, c_params=c_params, c_axis=c_axis, c_rows=c_rows, c_cols=c_cols,
            python_regularizers=py_regs, python_constraints=py_cons, clipvalue=clipvalue,
            clipnorm=clipnorm, global_clipnorm=global_clipnorm,
            loss_scale_factor=float(self.loss_scale_factor or 1.0), use_ema=bool(self.use_ema),
            ema_momentum=float(self.ema_momentum),
            ema_overwrite_frequency=self.ema_overwrite_frequency,
            gradient_accumulation_steps=int(self.gradient_accumulation_steps or 0),
            kernel_only=kernel_only,
        )

    # ----------------------------------------------------------------- apply
    def apply_gradients(self, grads_and_vars):
        """Applies ``(gradient, variable)`` pairs; returns ``iterations``.

        Args:
            grads_and_vars: iterable of ``(gradient, Variable)`` pairs.
        """
        grads, trainable_variables = zip(*grads_and_vars)
        self.apply(grads, trainable_variables)
        return self.iterations

    def apply(self, grads, trainable_variables=None):
        """Updates variables from their gradients (one optimizer step).

        Args:
            grads: list of gradient arrays (or None), one per variable.
            trainable_variables: the variables; may be omitted once the optimizer is built
                (then ``grads`` must match the variables it was built with).
        """
        grads = list(grads)
        if len(grads) == 0:
            return
        if trainable_variables is None:
            if not self.built:
                raise ValueError(
                    "When passing `grads` without `variables`, the optimizer "
                    "must already be built on a list of variables. "
                    "Call `optimizer.build(trainable_variables)` first. "
                )
            if len(grads) != len(self._trainable_variables_indices):
                raise ValueError(
                    "When passing `grads` as a list of gradient tensors, the "
                    "gradients must match `optimizer.variables` one-to-on. "
                    f"Received a list of {len(grads)} gradients, but the "
                    f"optimizer is tracking {len(self._trainable_variables)} "
                    "trainable variables."
                )
            trainable_variables = self._trainable_variables
        else:
            trainable_variables = list(trainable_variables)
            if not self.built:
                self.build(trainable_variables)
                self.built = True
            self._check_variables_are_known(trainable_variables)

        pairs = [(g, v) for g, v in zip(grads, trainable_variables) if g is not None]
        missing = [v.path for g, v in zip(grads, trainable_variables) if g is None]
        if not pairs:
            raise ValueError("No gradients provided for any variable.")
        if missing:
            warnings.warn(
                f"Gradients do not exist for variables {missing} when minimizing the loss."
                " If using `model.compile()`, did you forget to provide a `loss` argument?"
            )
        variables = [v for _, v in pairs]
        on_gpu = any(getattr(v, "device", "cpu") == "cuda" for v in variables)
        if on_gpu:
            self._check_gpu_support(variables)
        gs = [self._gradient_buffer(g, v) for g, v in pairs]
        if self.loss_scale_factor is not None:
            for g in gs:
                _k.scale_into(g, float(self.loss_scale_factor))

        fused = not (self.use_ema or self.gradient_accumulation_steps) and (
            config.epsilon() == 1e-7
        )
        if self.gradient_accumulation_steps:
            k = int(self.gradient_accumulation_steps)
            is_update = (int(self._iterations.value) + 1) % k == 0
            for g, v in zip(gs, variables):
                acc = self._accumulated_gradients[self._get_variable_index(v)]
                _k.grad_accumulate_into(_flat(acc.value), g, k, is_update)
            if is_update:
                self._update(gs, variables, fused)
        else:
            self._update(gs, variables, fused)

        if self.use_ema:
            self._update_model_variables_moving_average(self._trainable_variables)
            freq = self.ema_overwrite_frequency
            if freq and (self.iterations + 1) % freq == 0:
                self._overwrite_model_variables_with_average_value(self._trainable_variables)
        for v in variables:
            if v.constraint is not None and not (fused and self._constraint_is_kernel(v)):
                self._apply_constraint(v)
        self._iterations.assign(np.int64(int(self._iterations.value) + 1))

    def _check_gpu_support(self, variables):
        """Raises for the options the 'cuda' device does not run yet (before any change)."""
        unsupported = []
        if self.KIND is None:
            unsupported.append(f"the Python update rule of {type(self).__name__}")
        if self.use_ema:
            unsupported.append("use_ema")
        if self.gradient_accumulation_steps:
            unsupported.append("gradient_accumulation_steps")
        if self.loss_scale_factor is not None:
            unsupported.append("loss_scale_factor")
        for v in variables:
            if getattr(v, "device", "cpu") != "cuda":
                unsupported.append(f"mixing devices ('{v.path}' is on the CPU)")
            elif self._specs(v)[2] is not None:
                unsupported.append(f"the custom regularizer of '{v.path}'")
        if unsupported:
            raise NotImplementedError(
                "Not supported yet for variables on the 'cuda' device: "
                + ", ".join(unsupported) + ". Use the CPU device (nd.set_device('cpu'))."
            )

    def _gradient_buffer(self, grad, variable):
        if getattr(variable, "device", "cpu") == "cuda":
            # The kernels overwrite the gradient: a device gradient is used (and overwritten)
            # in place, a host gradient is copied up.
            if grad is None or tuple(grad.shape) != variable.shape and (
                    int(np.prod(grad.shape)) != variable.size):
                raise ValueError(
                    f"Gradient of shape {getattr(grad, 'shape', None)} does not match variable "
                    f"'{variable.path}' of shape {variable.shape}."
                )
            if backend.is_device_array(grad) and np.dtype(grad.dtype) == variable.dtype:
                g = grad
            else:
                g = backend.to_device(np.asarray(backend.to_host(grad), dtype=variable.dtype))
            return g.reshape(variable.size)
        g = np.array(grad, dtype=variable.dtype, order="C", copy=True)
        if g.shape != variable.shape:
            if g.size != variable.size:
                raise ValueError(
                    f"Gradient of shape {g.shape} does not match variable "
                    f"'{variable.path}' of shape {variable.shape}."
                )
            g = g.reshape(variable.shape)
        return _flat(g)

    @staticmethod
    def _constraint_is_kernel(variable):
        con = variable.constraint
        return hasattr(con, "kernel_spec") and con.kernel_spec(variable.shape) is not None

    @staticmethod
    def _apply_constraint(variable):
        con = variable.constraint
        spec = con.kernel_spec(variable.shape) if hasattr(con, "kernel_spec") else None
        if spec is None:
            variable.assign(con(variable.numpy() if variable.device == "cuda" else variable.value))
            return
        kind, p0, p1, p2, axis, shape_2d = spec
        if variable.size and getattr(variable, "device", "cpu") == "cuda":
            backend.kernel_module("constraints", "cuda").constraint_apply_into(
                variable.value.reshape(*shape_2d), kind, p0, p1, p2, axis, config.epsilon()
            )
        elif variable.size:
            _ck.constraint_apply_into(
                variable.value.reshape(shape_2d), kind, p0, p1, p2, axis, config.epsilon()
            )

    def _update(self, gs, variables, fused):
        """Clipping, weight decay and the update rule for one step (``gs`` are overwritten)."""
        lr = self._get_current_learning_rate()
        specs = []
        for g, v in zip(gs, variables):
            l1, l2, py_reg, cspec, _ = self._specs(v)
            if py_reg is not None:
                if not hasattr(py_reg, "add_gradient"):
                    raise NotImplementedError(
                        f"Regularizer {py_reg!r} of '{v.path}' has no `add_gradient(w, g)`; "
                        "numdense needs it to train with a custom regularizer."
                    )
                py_reg.add_gradient(v.value, g.reshape(v.shape))
            specs.append((l1, l2, cspec))
        clipvalue, clipnorm, global_clipnorm = self.clipping()
        on_gpu = bool(variables) and getattr(variables[0], "device", "cpu") == "cuda"
        kk = backend.kernel_module("optimizers", "cuda") if on_gpu else _k
        scale = 1.0
        if global_clipnorm > 0.0:
            sq = 0.0
            for g, v, (l1, l2, _) in zip(gs, variables, specs):
                sq += kk.grad_sq_norm_with_reg(_flat(v.value), g, l1, l2)
            scale = float(_k.global_clip_scale(sq, global_clipnorm))
        t = self.iterations + 1
        if self.KIND is None:
            self._python_update(gs, variables, specs, lr, clipvalue, clipnorm, scale)
            return
        hp = self._kernel_hp()
        _k.optimizer_begin_step(self.KIND, hp, self._state, t)
        for g, v, (l1, l2, cspec) in zip(gs, variables, specs):
            m, vv, u = self._slot_arrays(self._get_variable_index(v), v)
            if not fused:
                cspec = (_ck.NONE,) + cspec[1:]
            kk.optimizer_update_into(
                self.KIND, _flat(v.value), g, m, vv, u, hp, self._state, lr, t, l1, l2,
                clipvalue, clipnorm, scale, self._weight_decay_of(v), *cspec,
            )

    def _python_update(self, gs, variables, specs, lr, clipvalue, clipnorm, scale):
        empty = None
        for g, v, (l1, l2, _) in zip(gs, variables, specs):
            w = _flat(v.value)
            _k.grad_transform_into(w, g, l1, l2, clipvalue, clipnorm, scale)
            wd = self._weight_decay_of(v)
            if wd:
                empty = np.empty(0, dtype=v.dtype)
                # SGD with no momentum and a zero gradient is exactly the decay step.
                _k.optimizer_update_into(
                    kinds.SGD, w, np.zeros_like(w), empty, empty, empty, kinds.pack_hp(),
                    self._state, lr, 1, 0.0, 0.0, 0.0, 0.0, 1.0, wd, _ck.NONE, 0.0, 0.0, 0.0,
                    _ck.AXIS_ALL, 1, max(w.size, 1),
                )
            self.update_step(g.reshape(v.shape), v, lr)

    def update_step(self, gradient, variable, learning_rate):
        """The update rule of a Python optimizer (``KIND = None``), in place on ``variable``.

        Args:
            gradient: the processed gradient (array of the variable's shape).
            variable: the ``Variable`` to update.
            learning_rate: this step's learning rate (float).
        """
        raise NotImplementedError

    # ------------------------------------------------------------------- EMA
    def _update_model_variables_moving_average(self, trainable_variables):
        momentum = self.ema_momentum if self.iterations != 0 else 0.0
        for var, average in zip(trainable_variables, self._model_variables_moving_average):
            _k.ema_update_into(_flat(average.value), _flat(var.value), float(momentum))

    def _overwrite_model_variables_with_average_value(self, trainable_variables):
        if len(trainable_variables) != len(self._model_variables_moving_average):
            raise ValueError(
                f"The length of model variables ({len(trainable_variables)}) "
                "to override does not match the length of model variables "
                "stored in the optimizer "
                f"({len(self._model_variables_moving_average)}). Please "
                "check if the optimizer was called on your model."
            )
        for var, average in zip(trainable_variables, self._model_variables_moving_average):
            var.assign(average.value)

    def finalize_variable_values(self, var_list):
        """With ``use_ema``, overwrites the variables with their moving averages.

        Args:
            var_list: the model's trainable variables.
        """
        if self.use_ema:
            self._overwrite_model_variables_with_average_value(var_list)

    # --------------------------------------------------------------- config
    def get_config(self):
        """Returns the constructor arguments as a JSON-serializable dict (Keras' keys)."""
        if isinstance(self._learning_rate, schedules.LearningRateSchedule):
            learning_rate = schedules.serialize(self._learning_rate)
        elif self._learning_rate_var is not None:
            learning_rate = float(self._learning_rate_var.value)
        else:
            learning_rate = self._learning_rate
        return {
            "name": self.name,
            "learning_rate": learning_rate,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "loss_scale_factor": self.loss_scale_factor,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Builds an optimizer from the output of ``get_config()``.

        Args:
            config: a dict of constructor arguments (``learning_rate`` may be a serialized
                schedule).
            custom_objects: optional dict of extra schedule classes.
        """
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(
                config["learning_rate"], custom_objects=custom_objects
            )
        return cls(**config)

    def __setstate__(self, state):
        # Variables are keyed by identity, which unpickling changes.
        self.__dict__.update(state)
        self._trainable_variables_indices = {
            id(v): i for i, v in enumerate(self._trainable_variables)
        }
        if hasattr(self, "_excluded_variables"):
            self._exclude_from_weight_decay = set(id(v) for v in self._excluded_variables)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"

