"""Network definitions written for this project, state-dict compatible with the published checkpoints."""
