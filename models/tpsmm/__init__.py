"""Thin-Plate Spline Motion Model (Zhao & Zhang, CVPR 2022; github.com/yoyo-nb/Thin-Plate-Spline-Motion-Model,
MIT): our own implementation, state-dict compatible with the published checkpoints and numerically matching the
reference (see tests/test_tpsmm_reference.py)."""
