"""Regenerate data/two_spirals.csv (deterministic): python data/make_two_spirals.py"""

from pathlib import Path

import numpy as np
import pandas as pd

rng = np.random.default_rng(2018)
n = 300  # points per arm
t = np.sqrt(rng.uniform(0, 1, n)) * 3 * np.pi  # sqrt: even density along the arm
arms = []
for label, sign in (("a", 1.0), ("b", -1.0)):
    x = sign * t * np.cos(t) + rng.normal(0, 0.3, n)
    y = sign * t * np.sin(t) + rng.normal(0, 0.3, n)
    arms.append(pd.DataFrame({"x": x.round(4), "y": y.round(4), "label": label}))
frame = pd.concat(arms).sample(frac=1.0, random_state=0)
frame.to_csv(Path(__file__).with_name("two_spirals.csv"), index=False)
