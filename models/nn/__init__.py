"""Network building blocks shared by our motion-transfer models (FOMM, TPSMM): state-dict compatible with the
reference implementations, written here so the project needs no torchvision."""
