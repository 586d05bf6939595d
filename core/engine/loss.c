// loss.c: pooling, softmax cross-entropy and mean squared error.
#include <math.h>
#include <string.h>

#include "core/base/common.h"
#include "core/engine/ops.h"
#include "core/engine/vmath.h"

// ----------------------------------------------------------------------------
// pooling

void meanpool_forward(float *out, const float *inp, const int32_t *mask, int B, int L, int H) {
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        float *o = out + (long)b * H;
        int cnt = 0;
        memset(o, 0, sizeof(float) * (size_t)H);
        for (int t = 0; t < L; t++) {
            if (mask && !mask[(long)b * L + t]) continue;
            const float *x = inp + ((long)b * L + t) * H;
            for (int i = 0; i < H; i++) o[i] += x[i];
            cnt++;
        }
        float inv = 1.0f / (float)(cnt > 0 ? cnt : 1);  // an all-pad row pools to zeros
        for (int i = 0; i < H; i++) o[i] *= inv;
    }
}

void meanpool_backward(float *dinp, const float *dout, const int32_t *mask, int B, int L, int H) {
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        int cnt = 0;
        for (int t = 0; t < L; t++) cnt += !mask || mask[(long)b * L + t];
        float inv = 1.0f / (float)(cnt > 0 ? cnt : 1);
        const float *g = dout + (long)b * H;
        for (int t = 0; t < L; t++) {
            if (mask && !mask[(long)b * L + t]) continue;
            float *d = dinp + ((long)b * L + t) * H;
            for (int i = 0; i < H; i++) d[i] += g[i] * inv;
        }
    }
}

void firstpool_forward(float *out, const float *inp, int B, int L, int H) {
    for (int b = 0; b < B; b++) memcpy(out + (long)b * H, inp + (long)b * L * H, sizeof(float) * (size_t)H);
}

void firstpool_backward(float *dinp, const float *dout, int B, int L, int H) {
    for (int b = 0; b < B; b++)
        for (int i = 0; i < H; i++) dinp[(long)b * L * H + i] += dout[(long)b * H + i];
}

// ----------------------------------------------------------------------------
// softmax cross-entropy, averaged over the counted rows (the masked tokens for MLM, not B*L)

int crossentropy_forward(float *loss, float *probs, const float *logits, const int32_t *targets, int R, int V,
                         int ignore_index) {
    double *row_loss = xmalloc(sizeof(double) * (size_t)(R > 0 ? R : 1));
#pragma omp parallel for schedule(static)
    for (int r = 0; r < R; r++) {
        row_loss[r] = 0;
        if (targets[r] == ignore_index) continue;
        const float *x = logits + (long)r * V;
        float *pr = probs + (long)r * V;
        // 16 lanes for the max and the sum (fixed order: the same result for any thread count)
        float mxl[16];
        for (int k = 0; k < 16; k++) mxl[k] = -INFINITY;
        int j = 0;
        for (; j + 16 <= V; j += 16)
            for (int k = 0; k < 16; k++) mxl[k] = x[j + k] > mxl[k] ? x[j + k] : mxl[k];
        float mx = -INFINITY;
        for (int k = 0; k < 16; k++) mx = mxl[k] > mx ? mxl[k] : mx;
        for (; j < V; j++) mx = x[j] > mx ? x[j] : mx;
        double suml[16] = {0};
        for (j = 0; j + 16 <= V; j += 16)
            for (int k = 0; k < 16; k++) {
                float e = exp_fast(x[j + k] - mx);  // 2e-7 relative, as float32 rounding
                pr[j + k] = e;
                suml[k] += e;
            }
        double sum = 0;
        for (; j < V; j++) {
            float e = exp_fast(x[j] - mx);
            pr[j] = e;
            sum += e;
        }
        for (int k = 0; k < 16; k++) sum += suml[k];
        float inv = (float)(1.0 / sum);
        for (int j = 0; j < V; j++) pr[j] *= inv;
        row_loss[r] = log(sum) + (double)mx - (double)x[targets[r]];
    }
    int count = 0;
    double total = 0;
    for (int r = 0; r < R; r++) {
        if (targets[r] == ignore_index) continue;
        BIGS_ASSERT(targets[r] >= 0 && targets[r] < V);
        count++;
        total += row_loss[r];
    }
    free(row_loss);
    *loss = count ? (float)(total / count) : 0.0f;
    return count;
}

void crossentropy_backward(float *dlogits, float dloss, const float *probs, const int32_t *targets, int R, int V,
                           int ignore_index, int count) {
    if (count == 0) return;
    float s = dloss / (float)count;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < R; r++) {
        if (targets[r] == ignore_index) continue;
        const float *pr = probs + (long)r * V;
        float *d = dlogits + (long)r * V;
        for (int j = 0; j < V; j++) d[j] += s * pr[j];
        d[targets[r]] -= s;
    }
}

// ----------------------------------------------------------------------------
// mean squared error (regression heads: STS-B)

void mse_forward(float *loss, const float *pred, const float *target, long n) {
    double s = 0;
    for (long i = 0; i < n; i++) {
        double d = (double)pred[i] - target[i];
        s += d * d;
    }
    *loss = n ? (float)(s / n) : 0.0f;
}

void mse_backward(float *dpred, float dloss, const float *pred, const float *target, long n) {
    for (long i = 0; i < n; i++) dpred[i] += dloss * 2.0f * (pred[i] - target[i]) / (float)n;
}
