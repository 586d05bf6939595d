#!/usr/bin/python3
"""make_metric_golden.py: GLUE metric values from scikit-learn and scipy on fixed predictions.

Writes tests/golden/metrics.safetensors: integer predictions/labels (I64) and float scores (F64) for
several cases, with the expected accuracy, F1, MCC, Pearson and Spearman as float64 tensors.
Run with Debian's python3 (python3-sklearn, python3-scipy).
"""
import os
import sys

import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_io import write_safetensors  # noqa: E402

rs = np.random.RandomState(7)
t = {}
# binary cases: random, biased, all one class (MCC undefined -> 0), no positive prediction (F1 0)
cases = {
    "bin_random": (rs.randint(0, 2, 500), rs.randint(0, 2, 500)),
    "bin_biased": (None, None),
    "bin_constant_pred": (np.zeros(50, int), rs.randint(0, 2, 50)),
    "bin_perfect": (np.arange(40) % 2, np.arange(40) % 2),
}
g = rs.randint(0, 2, 300)
p = np.where(rs.rand(300) < 0.8, g, 1 - g)
cases["bin_biased"] = (p, g)
for name, (p, g) in cases.items():
    t["%s.pred" % name] = p.astype(np.int64)
    t["%s.gold" % name] = g.astype(np.int64)
    t["%s.accuracy" % name] = np.array([accuracy_score(g, p)])
    t["%s.f1" % name] = np.array([f1_score(g, p, zero_division=0)])
    t["%s.mcc" % name] = np.array([matthews_corrcoef(g, p)])
# three classes (MNLI)
g = rs.randint(0, 3, 400)
p = np.where(rs.rand(400) < 0.6, g, rs.randint(0, 3, 400))
t["multi.pred"], t["multi.gold"] = p.astype(np.int64), g.astype(np.int64)
t["multi.accuracy"] = np.array([accuracy_score(g, p)])
t["multi.mcc"] = np.array([matthews_corrcoef(g, p)])
# regression (STS-B): many ties in the gold scores, as the real data has
gold = np.round(rs.uniform(0, 5, 250) * 5) / 5
pred = gold + rs.normal(0, 1.0, 250)
pred[:20] = np.round(pred[:20])  # some tied predictions as well
t["reg.pred"], t["reg.gold"] = pred, gold
t["reg.pearson"] = np.array([pearsonr(pred, gold)[0]])
t["reg.spearman"] = np.array([spearmanr(pred, gold)[0]])
write_safetensors(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "metrics.safetensors"), t,
                  {"made_by": "scikit-learn accuracy_score/f1_score/matthews_corrcoef, scipy pearsonr/spearmanr"})
print("wrote tests/golden/metrics.safetensors")
