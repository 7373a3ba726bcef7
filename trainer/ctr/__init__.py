"""CTR backbones (DIEN, GRU4Rec, AutoInt, FiGNN, DCN, DeepFM), the logistic-regression floor,
knowledge connectors, and the fit/evaluate/export loop they share."""

import os

# On a shared CPU, OpenMP threads that spin while waiting for work slow training several-fold
# (measured: DCN 410 ms/step spinning vs 68 ms/step passive on 2 busy cores). Must be set before
# torch loads libgomp; an operator's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
