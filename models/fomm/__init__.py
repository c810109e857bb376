"""First Order Motion Model (Siarohin et al., NeurIPS 2019; github.com/AliaksandrSiarohin/first-order-model, MIT):
our own implementation, state-dict compatible with the published checkpoints and numerically matching the
reference (see tests/test_fomm_reference.py)."""
