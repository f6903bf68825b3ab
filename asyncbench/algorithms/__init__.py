"""The paper's methods by their `algorithm=` name: one registry for schemas, launching and tests.

Each method class names its config schema as `config_schema`.
"""

from __future__ import annotations

from asyncbench.algorithms.a3c import A3C
from asyncbench.algorithms.a3c_continuous import A3CContinuous, A3CContinuousLSTM
from asyncbench.algorithms.a3c_lstm import A3CLSTM
from asyncbench.algorithms.nstep_q import NStepQ
from asyncbench.algorithms.onestep_q import OneStepQ
from asyncbench.algorithms.onestep_sarsa import OneStepSarsa

ALGORITHMS: dict[str, type] = {
    "onestep_q": OneStepQ,
    "onestep_sarsa": OneStepSarsa,
    "nstep_q": NStepQ,
    "a3c": A3C,
    "a3c_lstm": A3CLSTM,
    "a3c_continuous": A3CContinuous,
    "a3c_continuous_lstm": A3CContinuousLSTM,
}
