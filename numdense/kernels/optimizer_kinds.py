"""Integer ids of the optimizers the kernels implement, and the layout of their parameters.

Every kind takes the same arguments (``numdense.kernels.cpu.optimizers``):

- ``hp``: float64 array of ``HP_SIZE`` hyperparameters; the slots each kind reads are listed
  below (unused entries are 0; booleans are 0.0 / 1.0).
- ``state``: float64 array of ``STATE_SIZE`` optimizer-wide scalars, updated by
  ``optimizer_begin_step`` once per step; start from ``initial_state(kind)``.
- three slot arrays per parameter, ``m``, ``v``, ``u``, in Keras' variable-creation order. A slot
  a configuration does not use is a length-0 array; a used one has the parameter's size and
  dtype and starts at 0 (Adagrad's accumulator at ``initial_accumulator_value``).
"""

import numpy as np

SGD = 0  # hp = [momentum, nesterov]; m = momentum (only if momentum != 0)
ADAM = 1  # hp = [beta_1, beta_2, epsilon, amsgrad]; m = momentum, v = velocity, u = velocity_hat (amsgrad)
ADAMW = 2  # same as ADAM; the decoupled decay is the per-parameter ``wd`` argument
RMSPROP = 3  # hp = [rho, momentum, epsilon, centered]; m = velocity, v = momentum (momentum > 0), u = average_gradient (centered)
ADAGRAD = 4  # hp = [initial_accumulator_value, epsilon]; m = accumulator (starts at hp[0])
ADADELTA = 5  # hp = [rho, epsilon]; m = accumulated_grad, v = accumulated_delta_var
ADAMAX = 6  # hp = [beta_1, beta_2, epsilon]; m = momentum, v = norm
NADAM = 7  # hp = [beta_1, beta_2, epsilon]; m = momentum, v = velocity; state[0] = u_product
LION = 8  # hp = [beta_1, beta_2]; m = momentum

HP_SIZE = 4
STATE_SIZE = 1

NAMES = {
    SGD: "sgd",
    ADAM: "adam",
    ADAMW: "adamw",
    RMSPROP: "rmsprop",
    ADAGRAD: "adagrad",
    ADADELTA: "adadelta",
    ADAMAX: "adamax",
    NADAM: "nadam",
    LION: "lion",
}


def initial_state(kind):
    """A fresh float64 ``state`` array for ``kind`` (Nadam's ``u_product`` starts at 1)."""
    state = np.zeros(STATE_SIZE)
    if kind == NADAM:
        state[0] = 1.0
    return state


def pack_hp(*values):
    """``hp`` as a float64 array of ``HP_SIZE`` entries: ``values`` then zeros."""
    if len(values) > HP_SIZE:
        raise ValueError(f"At most {HP_SIZE} hyperparameters, got {len(values)}.")
    hp = np.zeros(HP_SIZE)
    hp[: len(values)] = [float(x) for x in values]
    return hp
