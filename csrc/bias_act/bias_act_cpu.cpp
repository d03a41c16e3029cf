// CPU kernels of bias_act and its gradient, and the argument checks shared by every backend.
#include <array>

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty_like.h>
#include <c10/util/Exception.h>

#include "bias_act/bias_act.h"
#include "cpu_isa.h"
#include "ops.h"

namespace fastgan {

// The kernels and entry points, compiled once per instruction set (see cpu_isa.h).
FASTGAN_CPU_KERNELS_BEGIN

namespace {

using bias_act::Act;

// Elements per parallel task: what ATen uses for its own elementwise kernels.
constexpr int64_t kGrainSize = 32768;

constexpr std::array<const char*, bias_act::kNumActs> kActNames = {
    "linear", "relu", "lrelu", "tanh", "sigmoid", "elu", "selu", "softplus", "swish"};

int act_index(const std::string& act) {
  for (size_t i = 0; i < kActNames.size(); ++i) {
    if (act == kActNames[i]) return static_cast<int>(i);
  }
  TORCH_CHECK(false, "bias_act: act must be one of linear, relu, lrelu, tanh, sigmoid, elu, selu, ",
              "softplus, swish; got '", act, "'");
}

// Visits the elements of p.x in memory order, in parallel, as calls of
//   span(offset, n, bias, nullptr): n elements from offset that share the scalar `bias`, or
//   span(offset, C, 0, b): C neighbouring elements whose channels are 0..C-1 (channels-last).
// A dense tensor in any dimension order decomposes as offset = (row * C + c) * inner + j, with
// inner = x.stride(dim), so channel c is (offset / inner) % C.
template <typename scalar_t, typename opmath_t, typename Span>
void for_each_span(const BiasActPlan& p, const Span& span) {
  const int64_t numel = p.x.numel();
  const scalar_t* b = p.b.defined() ? p.b.const_data_ptr<scalar_t>() : nullptr;
  const int64_t C = p.channels, inner = p.inner;

  // No bias: one flat range.
  if (b == nullptr) {
    at::parallel_for(0, numel, kGrainSize, [&](int64_t i0, int64_t i1) {
      span(i0, i1 - i0, opmath_t(0), nullptr);
    });
    return;
  }

  // Neighbouring channels adjacent in memory (channels-last): rows of C elements.
  if (inner == 1) {
    const int64_t rows = numel / C;
    at::parallel_for(0, rows, std::max<int64_t>(1, kGrainSize / C), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) span(r * C, C, opmath_t(0), b);
    });
    return;
  }

  // Otherwise rows of `inner` elements that share one channel.
  const int64_t rows = numel / inner;
  at::parallel_for(0, rows, std::max<int64_t>(1, kGrainSize / inner), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) span(r * inner, inner, opmath_t(b[r % C]), nullptr);
  });
}

// The loops over one span, written with restrict pointers and the scalars as values so that the
// compiler vectorizes them.
template <Act A, bool Clamp, typename scalar_t, typename opmath_t>
void forward_span(const scalar_t* __restrict__ x, const scalar_t* __restrict__ b,
                  scalar_t* __restrict__ y, int64_t n, opmath_t bias,
                  bias_act::Scalars<opmath_t> s) {
  if (b == nullptr) {
    for (int64_t i = 0; i < n; ++i) {
      y[i] = scalar_t(bias_act::forward<A, Clamp>(opmath_t(x[i]) + bias, s));
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      y[i] = scalar_t(bias_act::forward<A, Clamp>(opmath_t(x[i]) + opmath_t(b[i]), s));
    }
  }
}

template <Act A, int Order, bool Clamp, typename scalar_t, typename opmath_t>
void backward_span(const scalar_t* __restrict__ dy, const scalar_t* __restrict__ x,
                   const scalar_t* __restrict__ b, scalar_t* __restrict__ dx, int64_t n,
                   opmath_t bias, bias_act::Scalars<opmath_t> s) {
  if (b == nullptr) {
    for (int64_t i = 0; i < n; ++i) {
      dx[i] = scalar_t(bias_act::backward<A, Order, Clamp>(opmath_t(dy[i]),
                                                            opmath_t(x[i]) + bias, s));
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      dx[i] = scalar_t(bias_act::backward<A, Order, Clamp>(
          opmath_t(dy[i]), opmath_t(x[i]) + opmath_t(b[i]), s));
    }
  }
}

template <typename scalar_t>
bias_act::Scalars<at::opmath_type<scalar_t>> scalars(const BiasActPlan& p) {
  using opmath_t = at::opmath_type<scalar_t>;
  return {opmath_t(p.alpha), opmath_t(p.gain), opmath_t(p.clamp)};
}

}  // namespace

template <>
at::Tensor bias_act_cpu<FASTGAN_CPU_ISA>(
    const at::Tensor& x, const std::optional<at::Tensor>& b, int64_t dim, const std::string& act,
    double alpha, double gain, std::optional<double> clamp) {
  TORCH_CHECK(x.device().is_cpu(), "bias_act_cpu: x must be a CPU tensor, got ", x.device());
  const BiasActPlan p = plan_bias_act(x, b, dim, act, alpha, gain, clamp, true);
  at::Tensor y = at::empty_like(p.x);
  if (y.numel() == 0) return y;

  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "bias_act_cpu", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    const scalar_t* xp = p.x.const_data_ptr<scalar_t>();
    scalar_t* yp = y.mutable_data_ptr<scalar_t>();
    const auto s = scalars<scalar_t>(p);
    bias_act::dispatch_act(p.act, [&](auto a) {
      bias_act::dispatch_bool(p.clamp >= 0, [&](auto c) {
        for_each_span<scalar_t, opmath_t>(
            p, [&](int64_t i, int64_t n, opmath_t bias, const scalar_t* b) {
              forward_span<decltype(a)::value, decltype(c)::value>(xp + i, b, yp + i, n, bias, s);
            });
      });
    });
  });
  return y;
}

template <>
at::Tensor bias_act_grad_cpu<FASTGAN_CPU_ISA>(
    const at::Tensor& dy, const at::Tensor& x, const std::optional<at::Tensor>& b, int64_t dim,
    const std::string& act, double alpha, double gain, std::optional<double> clamp, int64_t order) {
  TORCH_CHECK(x.device().is_cpu() && dy.device().is_cpu(),
              "bias_act_grad_cpu: dy and x must be CPU tensors, got ", dy.device(), " and ",
              x.device());
  TORCH_CHECK(dy.sizes() == x.sizes() && dy.scalar_type() == x.scalar_type(),
              "bias_act_grad: dy must match x in shape and dtype (", x.sizes(), ", ",
              x.scalar_type(), "), got ", dy.sizes(), ", ", dy.scalar_type());
  TORCH_CHECK(order == 1 || order == 2, "bias_act_grad: order must be 1 or 2, got ", order);
  const BiasActPlan p = plan_bias_act(x, b, dim, act, alpha, gain, clamp, true);
  const at::Tensor g = same_layout(dy, p.x);
  at::Tensor dx = at::empty_like(p.x);
  if (dx.numel() == 0) return dx;

  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, x.scalar_type(), "bias_act_grad_cpu", [&] {
        using opmath_t = at::opmath_type<scalar_t>;
        const scalar_t* xp = p.x.const_data_ptr<scalar_t>();
        const scalar_t* gp = g.const_data_ptr<scalar_t>();
        scalar_t* dxp = dx.mutable_data_ptr<scalar_t>();
        const auto s = scalars<scalar_t>(p);
        bias_act::dispatch_act(p.act, [&](auto a) {
          bias_act::dispatch_bool(p.clamp >= 0, [&](auto c) {
            bias_act::dispatch_bool(order == 2, [&](auto second) {
              constexpr int kOrder = decltype(second)::value ? 2 : 1;
              for_each_span<scalar_t, opmath_t>(
                  p, [&](int64_t i, int64_t n, opmath_t bias, const scalar_t* b) {
                    backward_span<decltype(a)::value, kOrder, decltype(c)::value>(
                        gp + i, xp + i, b, dxp + i, n, bias, s);
                  });
            });
          });
        });
      });
  return dx;
}

FASTGAN_CPU_KERNELS_END

// Argument checks shared with the CUDA kernels: compiled once, in the baseline build.
#if FASTGAN_CPU_SHARED

BiasActPlan plan_bias_act(const at::Tensor& x, const std::optional<at::Tensor>& b, int64_t dim,
                          const std::string& act, double alpha, double gain,
                          std::optional<double> clamp, bool allow_half) {
  // Device, then dtype, shape and values, then layout.
  const bool has_b = b.has_value() && b->defined();
  if (has_b) {
    TORCH_CHECK(b->device() == x.device(), "bias_act: b must be on the device of x (",
                x.device(), "), got ", b->device());
  }
  const auto dtype = x.scalar_type();
  TORCH_CHECK(dtype == at::kFloat || dtype == at::kDouble || dtype == at::kBFloat16 ||
                  (allow_half && dtype == at::kHalf),
              "bias_act: x must be float32, float64, bfloat16", allow_half ? " or float16" : "",
              " on ", x.device().type(), ", got ", dtype);
  BiasActPlan p;
  p.act = act_index(act);
  TORCH_CHECK(!clamp.has_value() || *clamp >= 0,
              "bias_act: clamp must be None or >= 0, got ", clamp.value_or(0));
  p.alpha = alpha;
  p.gain = gain;
  p.clamp = clamp.has_value() ? *clamp : -1.0;
  p.x = x.is_non_overlapping_and_dense() ? x : x.contiguous();
  if (has_b) {
    TORCH_CHECK(x.dim() > 0, "bias_act: x must have at least 1 dimension when b is given, got 0");
    TORCH_CHECK(dim >= -x.dim() && dim < x.dim(), "bias_act: dim must be in [", -x.dim(), ", ",
                x.dim(), ") for x of ", x.dim(), " dimensions, got ", dim);
    dim = dim < 0 ? dim + x.dim() : dim;
    TORCH_CHECK(b->scalar_type() == dtype, "bias_act: b must have the dtype of x (", dtype,
                "), got ", b->scalar_type());
    TORCH_CHECK(b->dim() == 1 && b->size(0) == x.size(dim),
                "bias_act: b must be 1-D of length x.shape[dim] = ", x.size(dim), ", got shape ",
                b->sizes());
    p.b = b->contiguous();
    p.channels = x.size(dim);
    p.inner = p.channels > 1 ? p.x.stride(dim) : 1;
  }
  return p;
}

at::Tensor same_layout(const at::Tensor& t, const at::Tensor& like) {
  if (t.strides() == like.strides()) return t;
  return at::empty_like(like).copy_(t);
}

#endif  // FASTGAN_CPU_SHARED

}  // namespace fastgan
