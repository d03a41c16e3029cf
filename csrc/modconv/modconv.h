// Element math of modulated_conv2d's native parts, shared by the CPU and CUDA kernels.
// No torch types here.
#pragma once

#include "common.h"

namespace fastgan::modconv {

// One element of the per-sample weights: w[n, o, i, k] = weight[o, i, k] * a[n, i] * b[n, o],
// with a the styles and b the demodulation coefficients (1 without demodulation).
template <typename T>
FASTGAN_HD T modulate(T weight, T a, T b) {
  return weight * a * b;
}

// One element of the epilogue (and of the input scaling): y = x * s[n, c] + noise.
template <typename T>
FASTGAN_HD T scale(T x, T s, T noise) {
  return x * s + noise;
}

// How the noise tensor is read along the innermost loop of a kernel.
enum class Inner : int {
  kBroadcast = 0,  // stride 0: one value for the whole run
  kDense = 1,      // stride 1
  kStrided = 2,    // any other stride
};

}  // namespace fastgan::modconv
