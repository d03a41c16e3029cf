// CPU kernels of adain and its gradient, and the argument checks shared by every backend.
#include <algorithm>
#include <array>
#include <cmath>

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <c10/util/Exception.h>

#include "adain/adain.h"
#include "cpu_isa.h"
#include "ops.h"

namespace fastgan {

// The kernels and entry points, compiled once per instruction set (see cpu_isa.h).
FASTGAN_CPU_KERNELS_BEGIN

namespace {

// Elements per parallel task, as in ATen's own elementwise kernels.
constexpr int64_t kGrainSize = 32768;
// Independent accumulators per plane: enough for the compiler to fill vector registers (no
// reassociation of a single sum is allowed without -ffast-math).
constexpr int kLanes = 16;
// Channels per task in channels-last layout: one 256-byte float32 run per spatial position.
constexpr int64_t kChannelBlock = 64;

template <typename T>
using Stats = adain::Stats<T>;

// Statistics of x - shift over one contiguous plane: kLanes interleaved Welford runs, merged,
// then the tail.
template <typename scalar_t, typename T>
Stats<T> plane_stats(const scalar_t* __restrict__ x, int64_t L, T shift) {
  T mean[kLanes] = {}, m2[kLanes] = {};
  const int64_t rows = L / kLanes;
  for (int64_t r = 0; r < rows; ++r) {
    const T inv = T(1) / T(r + 1);
    const scalar_t* __restrict__ row = x + r * kLanes;
    for (int j = 0; j < kLanes; ++j) {
      const T v = T(row[j]) - shift;
      const T delta = v - mean[j];
      mean[j] += delta * inv;
      m2[j] += delta * (v - mean[j]);
    }
  }
  Stats<T> s{T(0), T(0), T(0)};
  for (int j = 0; rows > 0 && j < kLanes; ++j) {
    s = adain::merge(s, Stats<T>{T(rows), mean[j], m2[j]});
  }
  for (int64_t l = rows * kLanes; l < L; ++l) adain::push(s, T(x[l]) - shift);
  return s;
}

// sum(dy) and sum(dy * (x - mean)) of one contiguous plane.
template <typename scalar_t, typename T>
void plane_grad_sums(const scalar_t* __restrict__ dy, const scalar_t* __restrict__ x, int64_t L,
                     T mean, T& sum_dy, T& sum_dyxc) {
  T s1[kLanes] = {}, s2[kLanes] = {};
  const int64_t rows = L / kLanes;
  for (int64_t r = 0; r < rows; ++r) {
    for (int j = 0; j < kLanes; ++j) {
      const T g = T(dy[r * kLanes + j]);
      s1[j] += g;
      s2[j] += g * (T(x[r * kLanes + j]) - mean);
    }
  }
  sum_dy = T(0);
  sum_dyxc = T(0);
  for (int j = 0; j < kLanes; ++j) {
    sum_dy += s1[j];
    sum_dyxc += s2[j];
  }
  for (int64_t l = rows * kLanes; l < L; ++l) {
    sum_dy += T(dy[l]);
    sum_dyxc += T(dy[l]) * (T(x[l]) - mean);
  }
}

// Forward, [N, C, L] layout: one task per plane.
template <typename scalar_t, typename T>
void forward_planes(const AdainPlan& p, const scalar_t* __restrict__ x,
                    const scalar_t* __restrict__ scale, const scalar_t* __restrict__ bias,
                    scalar_t* __restrict__ y, T* __restrict__ mean_out, T* __restrict__ rstd_out,
                    T eps) {
  const int64_t L = p.L;
  at::parallel_for(0, p.N * p.C, std::max<int64_t>(1, kGrainSize / L), [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      const scalar_t* __restrict__ xq = x + q * L;
      scalar_t* __restrict__ yq = y + q * L;
      const T shift = T(xq[0]);
      const Stats<T> s = plane_stats<scalar_t, T>(xq, L, shift);
      const T r = adain::inv_std(s, eps);
      const adain::Affine<T> a{shift, s.mean, T(scale[q]) * r, T(bias[q])};
      for (int64_t l = 0; l < L; ++l) yq[l] = scalar_t(adain::forward(T(xq[l]), a));
      mean_out[q] = shift + s.mean;
      rstd_out[q] = r;
    }
  });
}

// Forward, channels-last [N, L, C] layout: one task per sample and block of channels, whose
// channels are the Welford lanes.
template <typename scalar_t, typename T>
void forward_channels_last(const AdainPlan& p, const scalar_t* __restrict__ x,
                           const scalar_t* __restrict__ scale, const scalar_t* __restrict__ bias,
                           scalar_t* __restrict__ y, T* __restrict__ mean_out,
                           T* __restrict__ rstd_out, T eps) {
  const int64_t C = p.C, L = p.L;
  const int64_t blocks = (C + kChannelBlock - 1) / kChannelBlock;
  const int64_t grain = std::max<int64_t>(1, kGrainSize / (L * kChannelBlock));
  at::parallel_for(0, p.N * blocks, grain, [&](int64_t t0, int64_t t1) {
    T shift[kChannelBlock], mean[kChannelBlock], m2[kChannelBlock];
    T alpha[kChannelBlock], beta[kChannelBlock];
    for (int64_t t = t0; t < t1; ++t) {
      // Task t covers sample n, channels c0 .. c0 + cb - 1.
      const int64_t n = t / blocks, c0 = (t % blocks) * kChannelBlock;
      const int64_t cb = std::min(kChannelBlock, C - c0);
      const int64_t base = n * L * C + c0;
      for (int64_t j = 0; j < cb; ++j) shift[j] = T(x[base + j]);
      std::fill(mean, mean + cb, T(0));
      std::fill(m2, m2 + cb, T(0));
      for (int64_t l = 0; l < L; ++l) {
        const T inv = T(1) / T(l + 1);
        const scalar_t* __restrict__ row = x + base + l * C;
        for (int64_t j = 0; j < cb; ++j) {
          const T v = T(row[j]) - shift[j];
          const T delta = v - mean[j];
          mean[j] += delta * inv;
          m2[j] += delta * (v - mean[j]);
        }
      }
      for (int64_t j = 0; j < cb; ++j) {
        const int64_t q = n * C + c0 + j;
        const T r = adain::inv_std(Stats<T>{T(L), mean[j], m2[j]}, eps);
        alpha[j] = T(scale[q]) * r;
        beta[j] = T(bias[q]);
        mean_out[q] = shift[j] + mean[j];
        rstd_out[q] = r;
      }
      for (int64_t l = 0; l < L; ++l) {
        const scalar_t* __restrict__ row = x + base + l * C;
        scalar_t* __restrict__ out = y + base + l * C;
        for (int64_t j = 0; j < cb; ++j) {
          out[j] = scalar_t(((T(row[j]) - shift[j]) - mean[j]) * alpha[j] + beta[j]);
        }
      }
    }
  });
}

template <typename scalar_t, typename T>
void backward_planes(const AdainPlan& p, const scalar_t* __restrict__ dy,
                     const scalar_t* __restrict__ x, const scalar_t* __restrict__ scale,
                     const T* __restrict__ mean, const T* __restrict__ rstd,
                     scalar_t* __restrict__ dx, scalar_t* __restrict__ dscale,
                     scalar_t* __restrict__ dbias) {
  const int64_t L = p.L;
  at::parallel_for(0, p.N * p.C, std::max<int64_t>(1, kGrainSize / L), [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      const scalar_t* __restrict__ gq = dy + q * L;
      const scalar_t* __restrict__ xq = x + q * L;
      scalar_t* __restrict__ dxq = dx + q * L;
      T sum_dy, sum_dyxc;
      plane_grad_sums<scalar_t, T>(gq, xq, L, mean[q], sum_dy, sum_dyxc);
      const auto g = adain::grad_coefs(mean[q], rstd[q], T(scale[q]), sum_dy, sum_dyxc, T(L));
      for (int64_t l = 0; l < L; ++l) dxq[l] = scalar_t(adain::backward(T(gq[l]), T(xq[l]), g));
      dscale[q] = scalar_t(rstd[q] * sum_dyxc);
      dbias[q] = scalar_t(sum_dy);
    }
  });
}

template <typename scalar_t, typename T>
void backward_channels_last(const AdainPlan& p, const scalar_t* __restrict__ dy,
                            const scalar_t* __restrict__ x, const scalar_t* __restrict__ scale,
                            const T* __restrict__ mean, const T* __restrict__ rstd,
                            scalar_t* __restrict__ dx, scalar_t* __restrict__ dscale,
                            scalar_t* __restrict__ dbias) {
  const int64_t C = p.C, L = p.L;
  const int64_t blocks = (C + kChannelBlock - 1) / kChannelBlock;
  const int64_t grain = std::max<int64_t>(1, kGrainSize / (L * kChannelBlock));
  at::parallel_for(0, p.N * blocks, grain, [&](int64_t t0, int64_t t1) {
    T mu[kChannelBlock], s1[kChannelBlock], s2[kChannelBlock];
    T k[kChannelBlock], cx[kChannelBlock], c[kChannelBlock];
    for (int64_t t = t0; t < t1; ++t) {
      // Task t covers sample n, channels c0 .. c0 + cb - 1.
      const int64_t n = t / blocks, c0 = (t % blocks) * kChannelBlock;
      const int64_t cb = std::min(kChannelBlock, C - c0);
      const int64_t base = n * L * C + c0;
      for (int64_t j = 0; j < cb; ++j) {
        mu[j] = mean[n * C + c0 + j];
        s1[j] = T(0);
        s2[j] = T(0);
      }
      for (int64_t l = 0; l < L; ++l) {
        const scalar_t* __restrict__ grow = dy + base + l * C;
        const scalar_t* __restrict__ xrow = x + base + l * C;
        for (int64_t j = 0; j < cb; ++j) {
          const T g = T(grow[j]);
          s1[j] += g;
          s2[j] += g * (T(xrow[j]) - mu[j]);
        }
      }
      for (int64_t j = 0; j < cb; ++j) {
        const int64_t q = n * C + c0 + j;
        const auto g = adain::grad_coefs(mu[j], rstd[q], T(scale[q]), s1[j], s2[j], T(L));
        k[j] = g.k;
        cx[j] = g.cx;
        c[j] = g.c;
        dscale[q] = scalar_t(rstd[q] * s2[j]);
        dbias[q] = scalar_t(s1[j]);
      }
      for (int64_t l = 0; l < L; ++l) {
        const scalar_t* __restrict__ grow = dy + base + l * C;
        const scalar_t* __restrict__ xrow = x + base + l * C;
        scalar_t* __restrict__ out = dx + base + l * C;
        for (int64_t j = 0; j < cb; ++j) {
          out[j] = scalar_t(k[j] * T(grow[j]) + cx[j] * (T(xrow[j]) - mu[j]) + c[j]);
        }
      }
    }
  });
}

}  // namespace

template <>
std::tuple<at::Tensor, at::Tensor, at::Tensor> adain_cpu<FASTGAN_CPU_ISA>(
    const at::Tensor& x, const at::Tensor& scale, const at::Tensor& bias, double eps) {
  TORCH_CHECK(x.device().is_cpu(), "adain_cpu: x must be a CPU tensor, got ", x.device());
  const AdainPlan p = plan_adain("adain", x, scale, bias, eps);
  const at::Tensor b = bias.contiguous();
  at::Tensor y = at::empty_like(p.x);
  const auto stat_options = x.options().dtype(at::toOpMathType(x.scalar_type()));
  at::Tensor mean = at::empty({p.N, p.C}, stat_options);
  at::Tensor rstd = at::empty({p.N, p.C}, stat_options);
  if (y.numel() == 0) {
    mean.zero_();
    rstd.zero_();
    return {y, mean, rstd};
  }

  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "adain_cpu", [&] {
    using T = at::opmath_type<scalar_t>;
    const auto run = p.channels_last ? forward_channels_last<scalar_t, T>
                                     : forward_planes<scalar_t, T>;
    run(p, p.x.const_data_ptr<scalar_t>(), p.scale.const_data_ptr<scalar_t>(),
        b.const_data_ptr<scalar_t>(), y.mutable_data_ptr<scalar_t>(),
        mean.mutable_data_ptr<T>(), rstd.mutable_data_ptr<T>(), T(eps));
  });
  return {y, mean, rstd};
}

template <>
std::tuple<at::Tensor, at::Tensor, at::Tensor> adain_grad_cpu<FASTGAN_CPU_ISA>(
    const at::Tensor& dy, const at::Tensor& x, const at::Tensor& scale, const at::Tensor& mean,
    const at::Tensor& rstd, double eps) {
  TORCH_CHECK(x.device().is_cpu(), "adain_grad_cpu: x must be a CPU tensor, got ", x.device());
  const AdainPlan p = plan_adain("adain_grad", x, scale, std::nullopt, eps);
  check_adain_grad("adain_grad", p, dy, mean, rstd);
  const at::Tensor g = same_layout(dy, p.x);
  const at::Tensor m = mean.contiguous(), r = rstd.contiguous();
  at::Tensor dx = at::empty_like(p.x);
  at::Tensor dscale = at::empty({p.N, p.C}, scale.options());
  at::Tensor dbias = at::empty({p.N, p.C}, scale.options());
  if (p.N * p.C == 0) return {dx, dscale, dbias};

  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, x.scalar_type(), "adain_grad_cpu", [&] {
        using T = at::opmath_type<scalar_t>;
        const auto run = p.channels_last ? backward_channels_last<scalar_t, T>
                                         : backward_planes<scalar_t, T>;
        run(p, g.const_data_ptr<scalar_t>(), p.x.const_data_ptr<scalar_t>(),
            p.scale.const_data_ptr<scalar_t>(), m.const_data_ptr<T>(), r.const_data_ptr<T>(),
            dx.mutable_data_ptr<scalar_t>(), dscale.mutable_data_ptr<scalar_t>(),
            dbias.mutable_data_ptr<scalar_t>());
      });
  return {dx, dscale, dbias};
}

FASTGAN_CPU_KERNELS_END

// Argument checks shared with the CUDA kernels: compiled once, in the baseline build.
#if FASTGAN_CPU_SHARED

AdainPlan plan_adain(const char* op, const at::Tensor& x, const at::Tensor& scale,
                     const std::optional<at::Tensor>& bias, double eps) {
  // Device, then dtype, shape and values, then layout.
  TORCH_CHECK(scale.device() == x.device(), op, ": scale must be on the device of x (",
              x.device(), "), got ", scale.device());
  if (bias.has_value()) {
    TORCH_CHECK(bias->device() == x.device(), op, ": bias must be on the device of x (",
                x.device(), "), got ", bias->device());
  }
  const auto dtype = x.scalar_type();
  TORCH_CHECK(dtype == at::kFloat || dtype == at::kDouble || dtype == at::kHalf ||
                  dtype == at::kBFloat16,
              op, ": x must be float32, float64, float16 or bfloat16, got ", dtype);
  TORCH_CHECK(scale.scalar_type() == dtype, op, ": scale must have the dtype of x (", dtype,
              "), got ", scale.scalar_type());
  if (bias.has_value()) {
    TORCH_CHECK(bias->scalar_type() == dtype, op, ": bias must have the dtype of x (", dtype,
                "), got ", bias->scalar_type());
  }
  TORCH_CHECK(x.dim() >= 2, op, ": x must be [N, C, ...] with at least 2 dimensions, got ",
              x.dim(), "-D");
  const auto nc = x.sizes().slice(0, 2);
  TORCH_CHECK(scale.sizes() == nc, op, ": scale must be [N, C] = ", nc, ", got ", scale.sizes());
  if (bias.has_value()) {
    TORCH_CHECK(bias->sizes() == nc, op, ": bias must be [N, C] = ", nc, ", got ", bias->sizes());
  }
  TORCH_CHECK(eps > 0 && std::isfinite(eps), op, ": eps must be finite and > 0, got ", eps);

  AdainPlan p;
  p.N = x.size(0);
  p.C = x.size(1);
  p.L = x.numel() / std::max<int64_t>(1, p.N * p.C);
  p.channels_last = x.dim() == 4 && !x.is_contiguous() &&
                    x.is_contiguous(at::MemoryFormat::ChannelsLast);
  p.x = p.channels_last ? x : x.contiguous();
  p.scale = scale.contiguous();
  return p;
}

void check_adain_grad(const char* op, const AdainPlan& p, const at::Tensor& dy,
                      const at::Tensor& mean, const at::Tensor& rstd) {
  const auto stat_dtype = at::toOpMathType(p.x.scalar_type());
  const std::array<int64_t, 2> nc = {p.N, p.C};
  TORCH_CHECK(dy.device() == p.x.device() && mean.device() == p.x.device() &&
                  rstd.device() == p.x.device(),
              op, ": dy, mean and rstd must be on the device of x (", p.x.device(), ")");
  TORCH_CHECK(dy.sizes() == p.x.sizes() && dy.scalar_type() == p.x.scalar_type(), op,
              ": dy must match x in shape and dtype (", p.x.sizes(), ", ", p.x.scalar_type(),
              "), got ", dy.sizes(), ", ", dy.scalar_type());
  for (const auto& [name, t] : {std::pair{"mean", &mean}, std::pair{"rstd", &rstd}}) {
    TORCH_CHECK(t->sizes() == at::IntArrayRef(nc) && t->scalar_type() == stat_dtype, op, ": ",
                name, " must be [N, C] = ", at::IntArrayRef(nc), " of ", stat_dtype, ", got ",
                t->sizes(), " of ", t->scalar_type());
  }
}

#endif  // FASTGAN_CPU_SHARED

}  // namespace fastgan
