// optim.h: AdamW with decoupled weight decay over the flat parameter block, learning-rate schedules
// and global-norm gradient clipping.
#pragma once
#include "core/engine/params.h"
#include "train/train_config.h"

typedef struct {
    float *m, *v;   // first and second moments, same layout as the parameter block
    long step;      // optimizer steps taken
    float *decay;   // per-parameter weight-decay factor (0 or 1) in table order, from its group
    double lr_scale[LR_GROUPS];  // each learning-rate group's multiple of the scheduled rate (1: the run's)
} AdamW;

// Each parameter's weight decay comes from its role's group: WD_DEFAULT decays, WD_NONE does not, WD_SSM
// decays when decay_ssm is set; its learning rate is the scheduled rate times its group's lr_scale.
void adamw_init(AdamW *o, const ParamTable *pt, int decay_ssm);
void adamw_free(AdamW *o);
// One update with learning rate lr, as torch.optim.AdamW computes it:
// p *= 1 - lr*wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
// p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
void adamw_step(AdamW *o, ParamTable *pt, double lr, double beta1, double beta2, double eps, double wd);

// The global L2 norm of all gradients (in double, in table order).
double grad_global_norm(const ParamTable *pt);
// Scales gradients so their global norm is at most max_norm (as torch.nn.utils.clip_grad_norm_,
// including its 1e-6). Returns the norm before clipping.
double grad_clip(ParamTable *pt, double max_norm);

// The multiplier of the base learning rate at optimizer step `step` (0-based, as a Hugging Face
// scheduler evaluates it before its first step): linear warmup from 0, then linear decay to 0,
// cosine decay to min_lr_ratio, or constant.
double lr_factor(int type, long step, long warmup, long total, double min_ratio);
