"""The model engine behind `r4ec serve-model`: one base model, any number of resident LoRA adapters,
concurrent requests decoded together in one batch (continuous batching)."""
