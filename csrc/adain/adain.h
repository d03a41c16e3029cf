// Plane statistics and gradient coefficients of adain, shared by the CPU and CUDA kernels.
// No torch types here.
#pragma once

#include <cmath>

#include "common.h"

namespace fastgan::adain {

// Count, mean and sum of squared deviations of a run of values (Welford 1962). Runs merge
// pairwise (Chan, Golub and LeVeque 1979). Unlike "mean of squares minus squared mean", neither
// step subtracts two large numbers, so planes with a large mean keep their small variance.
template <typename T>
struct Stats {
  T count;
  T mean;
  T m2;
};

template <typename T>
FASTGAN_HD void push(Stats<T>& s, T v) {
  s.count += T(1);
  const T delta = v - s.mean;
  s.mean += delta / s.count;
  s.m2 += delta * (v - s.mean);
}

template <typename T>
FASTGAN_HD Stats<T> merge(const Stats<T>& a, const Stats<T>& b) {
  const T count = a.count + b.count;
  if (count == T(0)) return a;
  const T delta = b.mean - a.mean;
  const T wb = b.count / count;
  return {count, a.mean + delta * wb, a.m2 + b.m2 + delta * delta * a.count * wb};
}

// 1 / sqrt(biased variance + eps). A plane of one element has variance 0, so x - mean = 0 and
// the output is the bias (eps > 0 keeps the product finite).
template <typename T>
FASTGAN_HD T inv_std(const Stats<T>& s, T eps) {
  return T(1) / std::sqrt(s.m2 / s.count + eps);
}

// Forward of one plane: y = ((x - shift) - mean) * alpha + bias, alpha = scale * inv_std, where
// the statistics were taken of x - shift and shift is one element of the plane. In float32 a
// plane mean of 1e4 is only known to 1e-3; the shifted values keep the digits of x - mean.
template <typename T>
struct Affine {
  T shift;
  T mean;
  T alpha;
  T bias;
};

template <typename T>
FASTGAN_HD T forward(T x, const Affine<T>& a) {
  return ((x - a.shift) - a.mean) * a.alpha + a.bias;
}

// Backward of one plane of L elements, from its sums sum_dy = sum(dy) and sum_dyxc =
// sum(dy * (x - mean)). With x_hat = (x - mean) * r and k = scale * r:
//   dx = k * (dy - mean(dy) - x_hat * mean(dy * x_hat))
//      = k * dy + cx * (x - mean) + c,   cx = -k * r^2 * sum_dyxc / L,   c = -k * sum_dy / L
//   dscale = sum(dy * x_hat) = r * sum_dyxc,   dbias = sum_dy.
template <typename T>
struct GradCoefs {
  T mean;
  T k;
  T cx;
  T c;
};

template <typename T>
FASTGAN_HD GradCoefs<T> grad_coefs(T mean, T r, T scale, T sum_dy, T sum_dyxc, T L) {
  const T k = scale * r;
  return {mean, k, -k * r * r * sum_dyxc / L, -k * sum_dy / L};
}

template <typename T>
FASTGAN_HD T backward(T dy, T x, const GradCoefs<T>& g) {
  return g.k * dy + g.cx * (x - g.mean) + g.c;
}

}  // namespace fastgan::adain
