"""The quality gate: measured checks on a finished product's animation, each a number against a threshold."""
