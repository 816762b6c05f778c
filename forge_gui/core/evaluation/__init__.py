"""Evaluation: the steps that measure a trained adapter (`evaluate`) and the result a run
keeps (`evaluation_result`)."""
