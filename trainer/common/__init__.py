"""What every trainer job shares: the job spec, progress lines, checkpoints."""
