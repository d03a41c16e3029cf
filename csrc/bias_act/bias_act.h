// Element math of bias_act: activation values and their first and second derivatives.
// No torch types here: the CPU and CUDA kernels both call these functions.
#pragma once

#include <cmath>
#include <type_traits>

#include "common.h"

namespace fastgan::bias_act {

// The order matches the activation names in fastgan/ops/bias_act.py.
enum class Act : int {
  kLinear = 0,
  kReLU = 1,
  kLReLU = 2,
  kTanh = 3,
  kSigmoid = 4,
  kELU = 5,
  kSELU = 6,
  kSoftplus = 7,
  kSwish = 8,
};
constexpr int kNumActs = 9;

// SELU constants (Klambauer et al. 2017), as torch.nn.functional.selu uses them.
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;
// torch.nn.functional.softplus returns x unchanged above this input (beta = 1).
constexpr double kSoftplusThreshold = 20.0;

template <typename T>
FASTGAN_HD T sigmoid(T v) {
  return T(1) / (T(1) + std::exp(-v));
}

// Derivative `Order` (0 = the value) of activation A at v. The branch point belongs to the
// negative side (v > 0 picks the positive one), as in torch's relu, leaky_relu and elu.
template <Act A, int Order, typename T>
FASTGAN_HD T act(T v, T alpha) {
  if constexpr (A == Act::kLinear) {
    return Order == 0 ? v : (Order == 1 ? T(1) : T(0));
  } else if constexpr (A == Act::kReLU) {
    if constexpr (Order == 0) return v > T(0) ? v : T(0);
    if constexpr (Order == 1) return v > T(0) ? T(1) : T(0);
    return T(0);
  } else if constexpr (A == Act::kLReLU) {
    const T negative = v * alpha;  // computed unconditionally, so the select vectorizes
    if constexpr (Order == 0) return v > T(0) ? v : negative;
    if constexpr (Order == 1) return v > T(0) ? T(1) : alpha;
    return T(0);
  } else if constexpr (A == Act::kTanh) {
    const T y = std::tanh(v);
    if constexpr (Order == 0) return y;
    if constexpr (Order == 1) return T(1) - y * y;
    return T(-2) * y * (T(1) - y * y);
  } else if constexpr (A == Act::kSigmoid) {
    const T s = sigmoid(v);
    if constexpr (Order == 0) return s;
    if constexpr (Order == 1) return s * (T(1) - s);
    return s * (T(1) - s) * (T(1) - T(2) * s);
  } else if constexpr (A == Act::kELU) {
    if constexpr (Order == 0) return v > T(0) ? v : std::expm1(v);
    if constexpr (Order == 1) return v > T(0) ? T(1) : std::exp(v);
    return v > T(0) ? T(0) : std::exp(v);
  } else if constexpr (A == Act::kSELU) {
    const T scale = T(kSeluScale), scale_alpha = T(kSeluScale * kSeluAlpha);
    if constexpr (Order == 0) return v > T(0) ? scale * v : scale_alpha * std::expm1(v);
    if constexpr (Order == 1) return v > T(0) ? scale : scale_alpha * std::exp(v);
    return v > T(0) ? T(0) : scale_alpha * std::exp(v);
  } else if constexpr (A == Act::kSoftplus) {
    const bool linear = v > T(kSoftplusThreshold);
    if constexpr (Order == 0) return linear ? v : std::log1p(std::exp(v));
    const T s = sigmoid(v);
    if constexpr (Order == 1) return linear ? T(1) : s;
    return linear ? T(0) : s * (T(1) - s);
  } else {  // kSwish: v * sigmoid(v)
    const T s = sigmoid(v);
    if constexpr (Order == 0) return v * s;
    if constexpr (Order == 1) return s * (T(1) + v * (T(1) - s));
    return s * (T(1) - s) * (T(2) + v * (T(1) - T(2) * s));
  }
}

// Scalars of one call, in the arithmetic type.
template <typename T>
struct Scalars {
  T alpha;  // negative slope of lrelu
  T gain;   // multiplies the activation
  T clamp;  // output limit; used only when the kernel is instantiated with clamping
};

// Forward: y = clamp(act(v) * gain), v = x + b.
template <Act A, bool Clamp, typename T>
FASTGAN_HD T forward(T v, const Scalars<T>& s) {
  T y = act<A, 0>(v, s.alpha) * s.gain;
  if constexpr (Clamp) {
    // Two selects (not nested) so that compilers turn them into vector min/max; NaN stays NaN.
    y = s.clamp < y ? s.clamp : y;
    y = -s.clamp > y ? -s.clamp : y;
  }
  return y;
}

// Gradient of derivative `Order - 1` of the forward with respect to v, times dy. The clamp
// passes the gradient where -clamp <= act(v) * gain <= clamp, as torch.clamp does.
template <Act A, int Order, bool Clamp, typename T>
FASTGAN_HD T backward(T dy, T v, const Scalars<T>& s) {
  if constexpr (Clamp) {
    const T y = act<A, 0>(v, s.alpha) * s.gain;
    if (!(y >= -s.clamp && y <= s.clamp)) return T(0);
  }
  return dy * s.gain * act<A, Order>(v, s.alpha);
}

}  // namespace fastgan::bias_act

namespace fastgan::bias_act {

// Calls f with the activation as a compile-time tag (std::integral_constant<Act, A>).
template <typename F>
void dispatch_act(int act, F&& f) {
  switch (static_cast<Act>(act)) {
    case Act::kLinear: return f(std::integral_constant<Act, Act::kLinear>{});
    case Act::kReLU: return f(std::integral_constant<Act, Act::kReLU>{});
    case Act::kLReLU: return f(std::integral_constant<Act, Act::kLReLU>{});
    case Act::kTanh: return f(std::integral_constant<Act, Act::kTanh>{});
    case Act::kSigmoid: return f(std::integral_constant<Act, Act::kSigmoid>{});
    case Act::kELU: return f(std::integral_constant<Act, Act::kELU>{});
    case Act::kSELU: return f(std::integral_constant<Act, Act::kSELU>{});
    case Act::kSoftplus: return f(std::integral_constant<Act, Act::kSoftplus>{});
    case Act::kSwish: return f(std::integral_constant<Act, Act::kSwish>{});
  }
}

// Calls f with a compile-time bool.
template <typename F>
void dispatch_bool(bool value, F&& f) {
  if (value) return f(std::true_type{});
  return f(std::false_type{});
}

}  // namespace fastgan::bias_act
