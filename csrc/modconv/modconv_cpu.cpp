// CPU kernels of modulated_conv2d's native parts (modulated weights, per-plane scale and noise)
// and their gradients, and the argument checks shared by every backend.
#include <algorithm>
#include <array>
#include <type_traits>
#include <vector>

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <c10/util/Exception.h>

#include "modconv/modconv.h"
#include "cpu_isa.h"
#include "ops.h"

namespace fastgan {

// The kernels and entry points, compiled once per instruction set (see cpu_isa.h).
FASTGAN_CPU_KERNELS_BEGIN

namespace {

using modconv::Inner;

// Elements per parallel task, as in ATen's own elementwise kernels.
constexpr int64_t kGrainSize = 32768;
// Independent accumulators of a sum, so that the compiler may vectorize it.
constexpr int kLanes = 16;
// Channels per task of the channels-last gradient: one 256-byte float32 run per pixel.
constexpr int64_t kChannelBlock = 64;

Inner inner_kind(int64_t stride) {
  return stride == 0 ? Inner::kBroadcast : (stride == 1 ? Inner::kDense : Inner::kStrided);
}

// Calls f with the noise access pattern as a compile-time tag.
template <typename F>
void dispatch_inner(Inner kind, F&& f) {
  switch (kind) {
    case Inner::kBroadcast: return f(std::integral_constant<Inner, Inner::kBroadcast>{});
    case Inner::kDense: return f(std::integral_constant<Inner, Inner::kDense>{});
    case Inner::kStrided: return f(std::integral_constant<Inner, Inner::kStrided>{});
  }
}

template <Inner Kind, typename scalar_t>
scalar_t noise_at(const scalar_t* __restrict__ noise, int64_t i, int64_t stride) {
  if constexpr (Kind == Inner::kBroadcast) return noise[0];
  if constexpr (Kind == Inner::kDense) return noise[i];
  return noise[i * stride];
}

// y[i] = x[i] * s + noise[i * stride] over a run sharing one scale.
template <Inner Kind, typename scalar_t, typename T>
void scale_run(const scalar_t* __restrict__ x, T s, const scalar_t* __restrict__ noise,
               int64_t stride, scalar_t* __restrict__ y, int64_t n) {
  if (noise == nullptr) {
    for (int64_t i = 0; i < n; ++i) y[i] = scalar_t(modconv::scale(T(x[i]), s, T(0)));
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    y[i] = scalar_t(modconv::scale(T(x[i]), s, T(noise_at<Kind>(noise, i, stride))));
  }
}

// y[c] = x[c] * s[c] + noise[c * stride] over the C channels of one channels-last pixel.
template <Inner Kind, typename scalar_t, typename T>
void scale_pixel(const scalar_t* __restrict__ x, const scalar_t* __restrict__ s,
                 const scalar_t* __restrict__ noise, int64_t stride, scalar_t* __restrict__ y,
                 int64_t C) {
  if (noise == nullptr) {
    for (int64_t c = 0; c < C; ++c) y[c] = scalar_t(modconv::scale(T(x[c]), T(s[c]), T(0)));
    return;
  }
  for (int64_t c = 0; c < C; ++c) {
    y[c] = scalar_t(modconv::scale(T(x[c]), T(s[c]), T(noise_at<Kind>(noise, c, stride))));
  }
}

// The noise strides of dims (n, c, h, w) for a 4-D noise tensor; zeros without noise.
std::array<int64_t, 4> noise_strides(const at::Tensor& noise) {
  if (!noise.defined()) return {0, 0, 0, 0};
  return {noise.stride(0), noise.stride(1), noise.stride(2), noise.stride(3)};
}

template <typename scalar_t>
void scale_forward(const ModconvScalePlan& p, const at::Tensor& noise_t, at::Tensor& y_t) {
  using T = at::opmath_type<scalar_t>;
  const scalar_t* x = p.x.const_data_ptr<scalar_t>();
  const scalar_t* s = p.s.const_data_ptr<scalar_t>();
  const scalar_t* noise = noise_t.defined() ? noise_t.const_data_ptr<scalar_t>() : nullptr;
  scalar_t* y = y_t.mutable_data_ptr<scalar_t>();
  const auto [sn, sc, sh, sw] = noise_strides(noise_t);
  const int64_t C = p.C, L = p.L, W = p.W;

  if (p.channels_last) {
    // One run per pixel (n, h, w) of C channels.
    dispatch_inner(inner_kind(sc), [&](auto kind) {
      const int64_t grain = std::max<int64_t>(1, kGrainSize / C);
      at::parallel_for(0, p.N * L, grain, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const int64_t n = r / L, h = (r % L) / W, w = r % W;
          const scalar_t* nz = noise == nullptr ? nullptr : noise + n * sn + h * sh + w * sw;
          scale_pixel<decltype(kind)::value, scalar_t, T>(x + r * C, s + n * C, nz, sc,
                                                           y + r * C, C);
        }
      });
    });
    return;
  }

  // [N, C, L]: one run per plane when the noise plane is one strided run, else per image row.
  const bool plane_run = noise == nullptr || sh == W * sw;
  const int64_t run = plane_run ? L : W;
  dispatch_inner(inner_kind(sw), [&](auto kind) {
    at::parallel_for(0, p.N * C * (L / run), std::max<int64_t>(1, kGrainSize / run),
                     [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        // Run r starts at element r * run of plane q = n * C + c, image row h.
        const int64_t q = r / (L / run), h = plane_run ? 0 : r % (L / run);
        const int64_t n = q / C, c = q % C;
        const scalar_t* nz = noise == nullptr ? nullptr : noise + n * sn + c * sc + h * sh;
        scale_run<decltype(kind)::value, scalar_t, T>(x + r * run, T(s[q]), nz, sw,
                                                       y + r * run, run);
      }
    });
  });
}

template <typename scalar_t>
void scale_backward(const ModconvScalePlan& p, const at::Tensor& g_t, at::Tensor& gx_t,
                    at::Tensor& gs_t) {
  using T = at::opmath_type<scalar_t>;
  const scalar_t* __restrict__ g = g_t.const_data_ptr<scalar_t>();
  const scalar_t* __restrict__ x = p.x.const_data_ptr<scalar_t>();
  const scalar_t* __restrict__ s = p.s.const_data_ptr<scalar_t>();
  scalar_t* __restrict__ gx = gx_t.mutable_data_ptr<scalar_t>();
  scalar_t* __restrict__ gs = gs_t.mutable_data_ptr<scalar_t>();
  const int64_t C = p.C, L = p.L;

  if (p.channels_last) {
    // One task per sample and block of channels: gx row by row, gs summed over the pixels.
    const int64_t blocks = (C + kChannelBlock - 1) / kChannelBlock;
    const int64_t grain = std::max<int64_t>(1, kGrainSize / (L * kChannelBlock));
    at::parallel_for(0, p.N * blocks, grain, [&](int64_t t0, int64_t t1) {
      T sums[kChannelBlock], sc[kChannelBlock];
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t n = t / blocks, c0 = (t % blocks) * kChannelBlock;
        const int64_t cb = std::min(kChannelBlock, C - c0);
        for (int64_t j = 0; j < cb; ++j) {
          sums[j] = T(0);
          sc[j] = T(s[n * C + c0 + j]);
        }
        for (int64_t l = 0; l < L; ++l) {
          const int64_t base = (n * L + l) * C + c0;
          for (int64_t j = 0; j < cb; ++j) {
            const T gv = T(g[base + j]);
            gx[base + j] = scalar_t(gv * sc[j]);
            sums[j] += gv * T(x[base + j]);
          }
        }
        for (int64_t j = 0; j < cb; ++j) gs[n * C + c0 + j] = scalar_t(sums[j]);
      }
    });
    return;
  }

  // [N, C, L]: one task per plane.
  at::parallel_for(0, p.N * C, std::max<int64_t>(1, kGrainSize / std::max<int64_t>(1, L)),
                   [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      const scalar_t* __restrict__ gq = g + q * L;
      const scalar_t* __restrict__ xq = x + q * L;
      scalar_t* __restrict__ gxq = gx + q * L;
      const T sq = T(s[q]);
      T lanes[kLanes] = {};
      const int64_t rows = L / kLanes;
      for (int64_t r = 0; r < rows; ++r) {
        for (int j = 0; j < kLanes; ++j) {
          const T gv = T(gq[r * kLanes + j]);
          gxq[r * kLanes + j] = scalar_t(gv * sq);
          lanes[j] += gv * T(xq[r * kLanes + j]);
        }
      }
      T sum = T(0);
      for (int j = 0; j < kLanes; ++j) sum += lanes[j];
      for (int64_t l = rows * kLanes; l < L; ++l) {
        gxq[l] = scalar_t(T(gq[l]) * sq);
        sum += T(gq[l]) * T(xq[l]);
      }
      gs[q] = scalar_t(sum);
    }
  });
}

// ak[n, i * K + k] = a[n, i]: the styles repeated over the kernel taps, so that the loops over
// one row of weights (I * K elements) read it as a plain stream.
template <typename scalar_t, typename T>
std::vector<T> expand_styles(const ModconvWeightPlan& p) {
  const scalar_t* a = p.a.const_data_ptr<scalar_t>();
  const int64_t J = p.I * p.K;
  std::vector<T> ak(p.N * J);
  for (int64_t n = 0; n < p.N; ++n) {
    for (int64_t i = 0; i < p.I; ++i) {
      std::fill_n(ak.data() + n * J + i * p.K, p.K, T(a[n * p.I + i]));
    }
  }
  return ak;
}

template <typename scalar_t>
void weight_forward(const ModconvWeightPlan& p, at::Tensor& out_t) {
  using T = at::opmath_type<scalar_t>;
  const std::vector<T> ak_v = expand_styles<scalar_t, T>(p);
  const T* __restrict__ ak = ak_v.data();
  const scalar_t* __restrict__ weight = p.weight.const_data_ptr<scalar_t>();
  const scalar_t* b = p.b.defined() ? p.b.const_data_ptr<scalar_t>() : nullptr;
  scalar_t* __restrict__ out = out_t.mutable_data_ptr<scalar_t>();
  const int64_t O = p.O, J = p.I * p.K;

  // One row (n, o) of I * K elements per step.
  at::parallel_for(0, p.N * O, std::max<int64_t>(1, kGrainSize / J), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / O, o = r % O;
      const T bb = b == nullptr ? T(1) : T(b[r]);
      const scalar_t* __restrict__ wr = weight + o * J;
      const T* __restrict__ akr = ak + n * J;
      scalar_t* __restrict__ outr = out + r * J;
      for (int64_t j = 0; j < J; ++j) outr[j] = scalar_t(modconv::modulate(T(wr[j]), akr[j], bb));
    }
  });
}

// One pass over g [N, O, I * K]:
//   gweight[o, j] = sum_n g[n, o, j] * ak[n, j] * b[n, o]
//   gb[n, o]      = sum_j g[n, o, j] * weight[o, j] * ak[n, j]
//   ga[n, i]      = sum_{o, k} g[n, o, i * K + k] * weight[o, i * K + k] * b[n, o]
// The output channels are split into one slice per thread; each slice sums its part of ga in
// its own [N, I * K] buffer (indexed by slice, not by thread id, so no two writers share one).
template <typename scalar_t>
void weight_backward(const ModconvWeightPlan& p, const at::Tensor& g_t, at::Tensor& gweight_t,
                     at::Tensor& ga_t, at::Tensor& gb_t) {
  using T = at::opmath_type<scalar_t>;
  const std::vector<T> ak_v = expand_styles<scalar_t, T>(p);
  const T* __restrict__ ak = ak_v.data();
  const scalar_t* __restrict__ g = g_t.const_data_ptr<scalar_t>();
  const scalar_t* __restrict__ weight = p.weight.const_data_ptr<scalar_t>();
  const scalar_t* b = p.b.defined() ? p.b.const_data_ptr<scalar_t>() : nullptr;
  scalar_t* __restrict__ gweight = gweight_t.mutable_data_ptr<scalar_t>();
  scalar_t* __restrict__ gb = gb_t.mutable_data_ptr<scalar_t>();
  const int64_t N = p.N, O = p.O, I = p.I, K = p.K, J = I * K;
  const int64_t threads = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), O));
  std::vector<T> partial(size_t(threads) * N * J, T(0));

  // Slice t: output channels t * O / threads to (t + 1) * O / threads - 1.
  const auto slice = [&](int64_t t) {
    T* __restrict__ R = partial.data() + size_t(t) * N * J;
    std::vector<T> acc_v(J);
    T* __restrict__ acc = acc_v.data();
    for (int64_t o = t * O / threads; o < (t + 1) * O / threads; ++o) {
      std::fill_n(acc, J, T(0));
      const scalar_t* __restrict__ wr = weight + o * J;
      for (int64_t n = 0; n < N; ++n) {
        const scalar_t* __restrict__ gr = g + (n * O + o) * J;
        const T* __restrict__ akr = ak + n * J;
        T* __restrict__ Rr = R + n * J;
        const T bb = b == nullptr ? T(1) : T(b[n * O + o]);
        T lanes[kLanes] = {};
        const int64_t rows = J / kLanes;
        for (int64_t q = 0; q < rows; ++q) {
          for (int l = 0; l < kLanes; ++l) {
            const int64_t j = q * kLanes + l;
            const T gv = T(gr[j]);
            const T gw = gv * T(wr[j]);
            acc[j] += gv * akr[j] * bb;
            Rr[j] += gw * bb;
            lanes[l] += gw * akr[j];
          }
        }
        T sum = T(0);
        for (int l = 0; l < kLanes; ++l) sum += lanes[l];
        for (int64_t j = rows * kLanes; j < J; ++j) {
          const T gv = T(gr[j]);
          const T gw = gv * T(wr[j]);
          acc[j] += gv * akr[j] * bb;
          Rr[j] += gw * bb;
          sum += gw * akr[j];
        }
        gb[n * O + o] = scalar_t(sum);
      }
      for (int64_t j = 0; j < J; ++j) gweight[o * J + j] = scalar_t(acc[j]);
    }
  };
  at::parallel_for(0, threads, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) slice(t);
  });

  // ga: the per-slice buffers summed, then the kernel taps.
  scalar_t* __restrict__ ga = ga_t.mutable_data_ptr<scalar_t>();
  const int64_t grain = std::max<int64_t>(1, kGrainSize / (K * threads));
  at::parallel_for(0, N * I, grain, [&](int64_t e0, int64_t e1) {
    for (int64_t e = e0; e < e1; ++e) {
      T sum = T(0);
      for (int64_t t = 0; t < threads; ++t) {
        const T* row = partial.data() + size_t(t) * N * J + e * K;
        for (int64_t k = 0; k < K; ++k) sum += row[k];
      }
      ga[e] = scalar_t(sum);
    }
  });
}

}  // namespace

template <>
at::Tensor modconv_weight_cpu<FASTGAN_CPU_ISA>(
    const at::Tensor& weight, const at::Tensor& a, const std::optional<at::Tensor>& b) {
  TORCH_CHECK(weight.device().is_cpu(), "modconv_weight_cpu: weight must be a CPU tensor, got ",
              weight.device());
  const ModconvWeightPlan p = plan_modconv_weight("modconv_weight", weight, a, b);
  at::Tensor out = at::empty({p.N, p.O, p.I, weight.size(2), weight.size(3)}, weight.options());
  if (out.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, weight.scalar_type(),
                                  "modconv_weight_cpu", [&] { weight_forward<scalar_t>(p, out); });
  return out;
}

template <>
std::tuple<at::Tensor, at::Tensor, at::Tensor> modconv_weight_grad_cpu<FASTGAN_CPU_ISA>(
    const at::Tensor& g, const at::Tensor& weight, const at::Tensor& a,
    const std::optional<at::Tensor>& b) {
  TORCH_CHECK(weight.device().is_cpu() && g.device().is_cpu(),
              "modconv_weight_grad_cpu: g and weight must be CPU tensors, got ", g.device(),
              " and ", weight.device());
  const ModconvWeightPlan p = plan_modconv_weight("modconv_weight_grad", weight, a, b);
  const std::array<int64_t, 5> shape = {p.N, p.O, p.I, weight.size(2), weight.size(3)};
  TORCH_CHECK(g.sizes() == at::IntArrayRef(shape) && g.scalar_type() == weight.scalar_type(),
              "modconv_weight_grad: g must be [N, O, I, kh, kw] = ", at::IntArrayRef(shape),
              " of ", weight.scalar_type(), ", got ", g.sizes(), " of ", g.scalar_type());
  const at::Tensor gc = g.contiguous();
  at::Tensor gweight = at::empty_like(p.weight);
  at::Tensor ga = at::empty({p.N, p.I}, weight.options());
  at::Tensor gb = at::empty({p.N, p.O}, weight.options());
  if (g.numel() == 0) {
    gweight.zero_();
    ga.zero_();
    gb.zero_();
    return {gweight, ga, gb};
  }
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, weight.scalar_type(), "modconv_weight_grad_cpu",
      [&] { weight_backward<scalar_t>(p, gc, gweight, ga, gb); });
  return {gweight, ga, gb};
}

template <>
at::Tensor modconv_scale_cpu<FASTGAN_CPU_ISA>(
    const at::Tensor& x, const at::Tensor& s, const std::optional<at::Tensor>& noise) {
  TORCH_CHECK(x.device().is_cpu(), "modconv_scale_cpu: x must be a CPU tensor, got ", x.device());
  const ModconvScalePlan p = plan_modconv_scale("modconv_scale", x, s);
  const bool has_noise = noise.has_value() && noise->defined();
  if (has_noise) check_modconv_noise("modconv_scale", p, *noise);
  at::Tensor y = at::empty_like(p.x);
  if (y.numel() == 0) return y;
  const at::Tensor nz = has_noise ? *noise : at::Tensor();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "modconv_scale_cpu",
                                  [&] { scale_forward<scalar_t>(p, nz, y); });
  return y;
}

template <>
std::tuple<at::Tensor, at::Tensor> modconv_scale_grad_cpu<FASTGAN_CPU_ISA>(
    const at::Tensor& g, const at::Tensor& x, const at::Tensor& s) {
  TORCH_CHECK(x.device().is_cpu() && g.device().is_cpu(),
              "modconv_scale_grad_cpu: g and x must be CPU tensors, got ", g.device(), " and ",
              x.device());
  const ModconvScalePlan p = plan_modconv_scale("modconv_scale_grad", x, s);
  TORCH_CHECK(g.sizes() == x.sizes() && g.scalar_type() == x.scalar_type(),
              "modconv_scale_grad: g must match x in shape and dtype (", x.sizes(), ", ",
              x.scalar_type(), "), got ", g.sizes(), ", ", g.scalar_type());
  const at::Tensor gl = same_layout(g, p.x);
  at::Tensor gx = at::empty_like(p.x);
  at::Tensor gs = at::empty({p.N, p.C}, s.options());
  if (p.N * p.C == 0) return {gx, gs};
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(),
                                  "modconv_scale_grad_cpu",
                                  [&] { scale_backward<scalar_t>(p, gl, gx, gs); });
  return {gx, gs};
}

FASTGAN_CPU_KERNELS_END

// Argument checks shared with the CUDA kernels: compiled once, in the baseline build.
#if FASTGAN_CPU_SHARED

ModconvWeightPlan plan_modconv_weight(const char* op, const at::Tensor& weight,
                                      const at::Tensor& a, const std::optional<at::Tensor>& b) {
  // Device, then dtype, then shape; then layout.
  const bool has_b = b.has_value() && b->defined();
  TORCH_CHECK(a.device() == weight.device() && (!has_b || b->device() == weight.device()), op,
              ": a and b must be on the device of weight (", weight.device(), "), got ",
              a.device(), has_b ? " and " : "", has_b ? b->device().str() : "");
  const auto dtype = weight.scalar_type();
  TORCH_CHECK(dtype == at::kFloat || dtype == at::kDouble || dtype == at::kHalf ||
                  dtype == at::kBFloat16,
              op, ": weight must be float32, float64, float16 or bfloat16, got ", dtype);
  TORCH_CHECK(a.scalar_type() == dtype && (!has_b || b->scalar_type() == dtype), op,
              ": a and b must have the dtype of weight (", dtype, "), got ", a.scalar_type(),
              has_b ? " and " : "", has_b ? c10::toString(b->scalar_type()) : "");
  TORCH_CHECK(weight.dim() == 4, op, ": weight must be 4-D [O, I, kh, kw], got shape ",
              weight.sizes());
  TORCH_CHECK(a.dim() == 2 && a.size(1) == weight.size(1), op, ": a must be [N, I] with I = ",
              weight.size(1), ", got shape ", a.sizes());
  if (has_b) {
    TORCH_CHECK(b->dim() == 2 && b->size(0) == a.size(0) && b->size(1) == weight.size(0), op,
                ": b must be [N, O] = [", a.size(0), ", ", weight.size(0), "], got shape ",
                b->sizes());
  }
  ModconvWeightPlan p;
  p.weight = weight.contiguous();
  p.a = a.contiguous();
  if (has_b) p.b = b->contiguous();
  p.N = a.size(0);
  p.O = weight.size(0);
  p.I = weight.size(1);
  p.K = weight.size(2) * weight.size(3);
  return p;
}

ModconvScalePlan plan_modconv_scale(const char* op, const at::Tensor& x, const at::Tensor& s) {
  TORCH_CHECK(s.device() == x.device(), op, ": s must be on the device of x (", x.device(),
              "), got ", s.device());
  const auto dtype = x.scalar_type();
  TORCH_CHECK(dtype == at::kFloat || dtype == at::kDouble || dtype == at::kHalf ||
                  dtype == at::kBFloat16,
              op, ": x must be float32, float64, float16 or bfloat16, got ", dtype);
  TORCH_CHECK(s.scalar_type() == dtype, op, ": s must have the dtype of x (", dtype, "), got ",
              s.scalar_type());
  TORCH_CHECK(x.dim() == 4, op, ": x must be 4-D [N, C, H, W], got shape ", x.sizes());
  TORCH_CHECK(s.dim() == 2 && s.size(0) == x.size(0) && s.size(1) == x.size(1), op,
              ": s must be [N, C] = [", x.size(0), ", ", x.size(1), "], got shape ", s.sizes());
  ModconvScalePlan p;
  p.channels_last = !x.is_contiguous() && x.is_contiguous(at::MemoryFormat::ChannelsLast);
  p.x = p.channels_last ? x : x.contiguous();
  p.s = s.contiguous();
  p.N = x.size(0);
  p.C = x.size(1);
  p.L = x.size(2) * x.size(3);
  p.W = x.size(3);
  return p;
}

void check_modconv_noise(const char* op, const ModconvScalePlan& p, const at::Tensor& noise) {
  TORCH_CHECK(noise.device() == p.x.device(), op, ": noise must be on the device of x (",
              p.x.device(), "), got ", noise.device());
  TORCH_CHECK(noise.scalar_type() == p.x.scalar_type(), op, ": noise must have the dtype of x (",
              p.x.scalar_type(), "), got ", noise.scalar_type());
  TORCH_CHECK(noise.sizes() == p.x.sizes(), op, ": noise must have the shape of x (",
              p.x.sizes(), "; an expanded view is fine), got ", noise.sizes());
}

#endif  // FASTGAN_CPU_SHARED

}  // namespace fastgan
