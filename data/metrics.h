// metrics.h: the GLUE metrics, computed as the official scorer (scikit-learn / scipy) does.
#pragma once

double metric_accuracy(const int *pred, const int *gold, long n);
// F1 of the positive class 1 (sklearn f1_score, binary): 0 when there is no true positive.
double metric_f1(const int *pred, const int *gold, long n);
// Matthews correlation (sklearn matthews_corrcoef, binary or multiclass): 0 when undefined.
double metric_mcc(const int *pred, const int *gold, long n, int nclasses);
double metric_pearson(const double *x, const double *y, long n);
// Spearman: Pearson on ranks, ties get their average rank (scipy.stats.spearmanr).
double metric_spearman(const double *x, const double *y, long n);
