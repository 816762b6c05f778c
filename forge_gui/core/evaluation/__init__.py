"""Evaluation: the step that measures a trained adapter against its base (`evaluate`) and the
held-out text it reads (`held_out`). The result a run keeps is core/runs/evaluation_result.py."""
