"""AdamW + warmup/cosine schedule + global-norm clipping + gradient
accumulation + logit-scale clamp (src/train/optim.c, via
tests/tools/optim_driver) against torch.optim.AdamW, LambdaLR and
torch.nn.utils.clip_grad_norm_ on the same parameter and gradient sequence."""
import math
import os
import subprocess
import sys
import tempfile

import numpy as np

import tap
from tap import BUILD, check

DRIVER = os.path.join(BUILD, "tools", "optim_driver")


def lr_lambda(warmup, total, min_ratio):
    def f(step):
        if step < warmup:
            return (step + 1) / warmup
        p = min(1.0, (step - warmup) / max(1, total - warmup))
        return min(1.0, max(0.0, min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * p))))
    return f


def torch_run(torch, params0, grads, sizes, decays, names, lr, wd, warmup, total, min_ratio,
              max_norm, steps, accum):
    ps = [torch.nn.Parameter(torch.tensor(p)) for p in params0]
    groups = [{"params": [p for p, d in zip(ps, decays) if d], "weight_decay": wd},
              {"params": [p for p, d in zip(ps, decays) if not d], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999), eps=1e-8)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(warmup, total, min_ratio))
    lrs = []
    it = iter(grads)
    for _ in range(steps):
        acc = [np.zeros(s, np.float32) for s in sizes]
        for _ in range(accum):
            g = next(it)
            acc = [a + gi for a, gi in zip(acc, g)]
        for p, a in zip(ps, acc):
            p.grad = torch.tensor(a) * np.float32(1.0 / accum)
        if max_norm > 0:
            torch.nn.utils.clip_grad_norm_(ps, max_norm)
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
        with torch.no_grad():
            for p, name in zip(ps, names):
                if name == "train.logit_scale":
                    p.clamp_(0, math.log(100))
    m = [opt.state[p]["exp_avg"].numpy() for p in ps]
    v = [opt.state[p]["exp_avg_sq"].numpy() for p in ps]
    return [p.detach().numpy() for p in ps], m, v, lrs


def case(torch, tmp, label, seed, lr, wd, warmup, total, min_ratio, max_norm, steps, accum,
         grad_scale, logit0):
    rng = np.random.default_rng(seed)
    sizes = [37, 16, 5, 130, 1]
    decays = [1, 0, 0, 1, 0]
    names = ["text.w", "text.ln.weight", "text.b", "vision.w", "train.logit_scale"]
    params0 = [rng.standard_normal(s).astype(np.float32) * 0.1 for s in sizes]
    params0[-1][:] = logit0
    grads = []
    for _ in range(steps * accum):
        g = [rng.standard_normal(s).astype(np.float32) * grad_scale for s in sizes]
        g[-1][:] = np.float32(-abs(grad_scale) * 3)   # pushes the logit scale up to its clamp
        grads.append(g)
    fin = os.path.join(tmp, "in.bin")
    fout = os.path.join(tmp, "out.bin")
    with open(fin, "wb") as f:
        for p in params0:
            f.write(p.tobytes())
        for g in grads:
            for gi in g:
                f.write(gi.tobytes())
    spec = ",".join("%d:%d:%s" % t for t in zip(sizes, decays, names))
    r = subprocess.run([DRIVER, fin, fout, repr(lr), repr(wd), str(warmup), str(total),
                        repr(min_ratio), repr(max_norm), str(steps), str(accum), spec],
                       capture_output=True)
    if r.returncode:
        check(False, "%s: driver ran (%s)" % (label, r.stderr.decode(errors="replace")))
        return
    raw = open(fout, "rb").read()
    N = sum(sizes)
    blocks = np.frombuffer(raw[:12 * N], np.float32).reshape(3, N)
    c_lrs = np.frombuffer(raw[12 * N:], np.float64)
    tp, tm, tv, tlrs = torch_run(torch, params0, grads, sizes, decays, names, lr, wd, warmup,
                                 total, min_ratio, max_norm, steps, accum)
    ref = [np.concatenate(x) for x in (tp, tm, tv)]
    for what, got, want in zip(("params", "adam m", "adam v"), blocks, ref):
        # Relative per element, with a floor of 1% of the largest value: the
        # clip coefficient comes from a norm summed in a different order, and
        # m elements that cancel to near 0 would magnify that 1e-7 difference.
        err = np.max(np.abs(got - want) / np.maximum(np.abs(want), 0.01 * np.max(np.abs(want))))
        check(err <= 2e-6, "%s: %s after %d steps, max rel err %.2e" % (label, what, steps, err))
    lerr = np.max(np.abs(c_lrs - np.array(tlrs)) / np.maximum(np.abs(tlrs), 1e-30))
    check(lerr <= 1e-12, "%s: learning rate of every step matches LambdaLR (rel err %.1e)" % (label, lerr))
    ls = blocks[0][N - 1]
    check(0 <= ls <= math.log(100) + 1e-6, "%s: logit scale stays in [0, log 100] (%.4f)" % (label, ls))


def main():
    try:
        import torch
    except ImportError:
        print("skip - torch is not installed")
        return 0
    if not os.access(DRIVER, os.X_OK):
        check(False, "driver %s is built (make tests-build)" % DRIVER)
        return 1
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        # clipping active (grads of norm ~ 30 vs 1.0), warmup then cosine to 0
        case(torch, tmp, "clip+warmup+cosine", 1, 5e-3, 0.1, 4, 25, 0.0, 1.0, 25, 1, 2.0, 4.0)
        # no clipping in effect, accumulation of 3, cosine to a 0.1 floor, past the total
        case(torch, tmp, "accum3+min_ratio", 2, 1e-3, 0.05, 2, 10, 0.1, 1000.0, 14, 3, 0.01, 2.659)
        # clipping disabled (max_norm 0), no warmup
        case(torch, tmp, "noclip+nowarmup", 3, 2e-2, 0.3, 0, 8, 0.0, 0.0, 8, 2, 0.5, 0.5)
    return tap.summary()


if __name__ == "__main__":
    sys.exit(main())
