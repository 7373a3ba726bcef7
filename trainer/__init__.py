"""r4ec's Python trainer: one CLI per job kind (`python -m trainer.<job> --spec spec.json`).

JSON job spec in, line-delimited JSON progress out on stdout, checkpoints under the spec's workDir.
"""
