"""The pipeline: the one walk over a run's steps (`walk`), the steps of a training run
(`train_pipeline`), and the checks made before a run starts (`preflight`, `preflight_run`)."""
