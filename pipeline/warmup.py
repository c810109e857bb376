"""Install-time warm-up: pymatting's numba kernels compile on first use (about a minute); doing it once at
install (with NUMBA_CACHE_DIR set by the Makefile) keeps that cost out of the first product and of every test."""
from __future__ import annotations

import numpy as np


def main() -> None:
    from pymatting import estimate_alpha_cf, estimate_foreground_ml

    rng = np.random.default_rng(0)
    image = rng.random((24, 24, 3))
    trimap = np.zeros((24, 24))
    trimap[8:16, 8:16] = 0.5
    trimap[10:14, 10:14] = 1.0
    alpha = estimate_alpha_cf(image, trimap)
    estimate_foreground_ml(image, alpha)
    print("pymatting kernels compiled and cached")


if __name__ == "__main__":
    main()
