#!/usr/bin/python3
"""baseline_bow.py TRAIN.tsv DEV.tsv: dev accuracy of the majority class and of a bag-of-words
logistic regression (scikit-learn, Debian python3-sklearn) on an SST-2-layout task, for comparison
with `bigs finetune`."""
import sys

from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression


def read(path):
    rows = [line.rstrip("\n").split("\t") for line in open(path, encoding="utf-8")][1:]
    return [r[0] for r in rows], [int(r[-1]) for r in rows]


xtr, ytr = read(sys.argv[1])
xdv, ydv = read(sys.argv[2])
majority = max(set(ytr), key=ytr.count)
vec = CountVectorizer(lowercase=True)
clf = LogisticRegression(max_iter=1000).fit(vec.fit_transform(xtr), ytr)
acc = (clf.predict(vec.transform(xdv)) == ydv).mean()
print('{"majority_accuracy": %.4f, "bow_logreg_accuracy": %.4f}' % (sum(y == majority for y in ydv) / len(ydv), acc))
