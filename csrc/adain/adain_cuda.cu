// CUDA kernels of adain and its gradient. One block of 32 x 8 threads per tile of planes:
//   [N, C, L] layout: one plane per block, all 256 threads stride over its L elements;
//   channels-last [N, L, C]: 32 neighbouring channels per block (threadIdx.x, coalesced),
//   the 8 rows of threads (threadIdx.y) stride over L.
// Each thread keeps Welford statistics of the elements it read; the block merges them, then
// the same threads write the output.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/zeros.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "adain/adain.h"
#include "ops.h"

namespace fastgan {

namespace {

constexpr int kLanes = 32;  // blockDim.x
constexpr int kRows = 8;    // blockDim.y

template <typename T>
using Stats = adain::Stats<T>;

// The two sums of the backward of one plane.
template <typename T>
struct Sums {
  T dy;    // sum(dy)
  T dyxc;  // sum(dy * (x - mean))
};

template <typename T>
__device__ __forceinline__ Stats<T> combine(const Stats<T>& a, const Stats<T>& b) {
  return adain::merge(a, b);
}

template <typename T>
__device__ __forceinline__ Sums<T> combine(const Sums<T>& a, const Sums<T>& b) {
  return {a.dy + b.dy, a.dyxc + b.dyxc};
}

template <typename T>
__device__ __forceinline__ Stats<T> shuffle_xor(const Stats<T>& v, int offset) {
  return {__shfl_xor_sync(0xffffffffu, v.count, offset),
          __shfl_xor_sync(0xffffffffu, v.mean, offset),
          __shfl_xor_sync(0xffffffffu, v.m2, offset)};
}

template <typename T>
__device__ __forceinline__ Sums<T> shuffle_xor(const Sums<T>& v, int offset) {
  return {__shfl_xor_sync(0xffffffffu, v.dy, offset),
          __shfl_xor_sync(0xffffffffu, v.dyxc, offset)};
}

// Combines the values of the threads that share a plane: the whole block ([N, C, L]) or one
// column of threads (channels-last). Every thread gets its plane's total.
template <bool ChannelsLast, typename V>
__device__ V block_combine(V v, V (&shared)[kRows][kLanes]) {
  if constexpr (!ChannelsLast) {
    for (int offset = kLanes / 2; offset > 0; offset /= 2) v = combine(v, shuffle_xor(v, offset));
  }
  shared[threadIdx.y][threadIdx.x] = v;
  __syncthreads();
  const int lane = ChannelsLast ? threadIdx.x : 0;
  V total = shared[0][lane];
  for (int r = 1; r < kRows; ++r) total = combine(total, shared[r][lane]);
  __syncthreads();  // the shared array is reused by the caller's next combine
  return total;
}

template <typename scalar_t, typename T>
struct Params {
  const scalar_t* x;      // input [N, C, L] or [N, L, C]
  const scalar_t* dy;     // incoming gradient, layout of x (backward only)
  const scalar_t* scale;  // [N, C]
  const scalar_t* bias;   // [N, C] (forward only)
  const T* mean_in;       // [N, C] saved plane means (backward only)
  const T* rstd_in;       // [N, C] saved 1 / sqrt(var + eps) (backward only)
  scalar_t* out;          // y or dx, layout of x
  scalar_t* dscale;       // [N, C] (backward only)
  scalar_t* dbias;        // [N, C] (backward only)
  T* mean_out;            // [N, C] (forward only)
  T* rstd_out;            // [N, C] (forward only)
  int64_t C;              // channels
  int64_t L;              // elements per plane
  int64_t channel_tiles;  // ceil(C / kLanes), channels-last only
  T eps;
};

// Where this thread's plane lives: element l of plane q is at base + l * stride; the thread
// visits l = first, first + step, ...
struct Walk {
  int64_t q;
  int64_t base;
  int64_t stride;
  int64_t first;
  int64_t step;
  bool active;   // false for threads past the last channel of a channels-last tile
  bool leader;   // the one thread that writes the plane's [N, C] results
};

template <bool ChannelsLast>
__device__ Walk walk(int64_t C, int64_t L, int64_t channel_tiles) {
  if constexpr (ChannelsLast) {
    const int64_t n = blockIdx.x / channel_tiles;
    const int64_t c = (blockIdx.x % channel_tiles) * kLanes + threadIdx.x;
    return {n * C + c, n * L * C + c, C, threadIdx.y, kRows, c < C,
            c < C && threadIdx.y == 0};
  } else {
    const int64_t q = blockIdx.x;
    const int t = threadIdx.y * kLanes + threadIdx.x;
    return {q, q * L, 1, t, kLanes * kRows, true, t == 0};
  }
}

template <typename scalar_t, typename T, bool ChannelsLast>
__global__ void __launch_bounds__(kLanes* kRows) forward_kernel(Params<scalar_t, T> p) {
  __shared__ Stats<T> shared[kRows][kLanes];
  const Walk w = walk<ChannelsLast>(p.C, p.L, p.channel_tiles);

  // Statistics of the plane, taken of x - (its first element).
  const T shift = w.active ? T(p.x[w.base]) : T(0);
  Stats<T> s{T(0), T(0), T(0)};
  if (w.active) {
    for (int64_t l = w.first; l < p.L; l += w.step) {
      adain::push(s, T(p.x[w.base + l * w.stride]) - shift);
    }
  }
  s = block_combine<ChannelsLast>(s, shared);
  if (!w.active) return;

  // The affine write.
  const T r = adain::inv_std(s, p.eps);
  const adain::Affine<T> a{shift, s.mean, T(p.scale[w.q]) * r, T(p.bias[w.q])};
  for (int64_t l = w.first; l < p.L; l += w.step) {
    const int64_t i = w.base + l * w.stride;
    p.out[i] = scalar_t(adain::forward(T(p.x[i]), a));
  }
  if (w.leader) {
    p.mean_out[w.q] = shift + s.mean;
    p.rstd_out[w.q] = r;
  }
}

template <typename scalar_t, typename T, bool ChannelsLast>
__global__ void __launch_bounds__(kLanes* kRows) backward_kernel(Params<scalar_t, T> p) {
  __shared__ Sums<T> shared[kRows][kLanes];
  const Walk w = walk<ChannelsLast>(p.C, p.L, p.channel_tiles);
  const T mean = w.active ? p.mean_in[w.q] : T(0);

  // The two sums of the plane.
  Sums<T> s{T(0), T(0)};
  if (w.active) {
    for (int64_t l = w.first; l < p.L; l += w.step) {
      const int64_t i = w.base + l * w.stride;
      const T g = T(p.dy[i]);
      s.dy += g;
      s.dyxc += g * (T(p.x[i]) - mean);
    }
  }
  s = block_combine<ChannelsLast>(s, shared);
  if (!w.active) return;

  // dx, dscale and dbias.
  const T r = p.rstd_in[w.q];
  const auto g = adain::grad_coefs(mean, r, T(p.scale[w.q]), s.dy, s.dyxc, T(p.L));
  for (int64_t l = w.first; l < p.L; l += w.step) {
    const int64_t i = w.base + l * w.stride;
    p.out[i] = scalar_t(adain::backward(T(p.dy[i]), T(p.x[i]), g));
  }
  if (w.leader) {
    p.dscale[w.q] = scalar_t(r * s.dyxc);
    p.dbias[w.q] = scalar_t(s.dy);
  }
}

template <typename scalar_t, typename T>
Params<scalar_t, T> make_params(const AdainPlan& plan) {
  Params<scalar_t, T> k{};
  k.x = plan.x.const_data_ptr<scalar_t>();
  k.scale = plan.scale.const_data_ptr<scalar_t>();
  k.C = plan.C;
  k.L = plan.L;
  k.channel_tiles = (plan.C + kLanes - 1) / kLanes;
  return k;
}

int64_t blocks_for(const AdainPlan& plan) {
  return plan.channels_last ? plan.N * ((plan.C + kLanes - 1) / kLanes) : plan.N * plan.C;
}

}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor> adain_cuda(const at::Tensor& x,
                                                         const at::Tensor& scale,
                                                         const at::Tensor& bias, double eps) {
  TORCH_CHECK(x.device().is_cuda(), "adain_cuda: x must be a CUDA tensor, got ", x.device());
  const AdainPlan p = plan_adain("adain", x, scale, bias, eps);
  const c10::cuda::CUDAGuard guard(x.device());
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
  TORCH_CHECK(blocks_for(p) < (int64_t(1) << 31), "adain: N * C must be below 2^31, got ",
              blocks_for(p));

  const auto stream = c10::cuda::getCurrentCUDAStream();
  const dim3 threads(kLanes, kRows);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "adain_cuda", [&] {
    using T = at::opmath_type<scalar_t>;
    auto k = make_params<scalar_t, T>(p);
    k.bias = b.const_data_ptr<scalar_t>();
    k.out = y.mutable_data_ptr<scalar_t>();
    k.mean_out = mean.mutable_data_ptr<T>();
    k.rstd_out = rstd.mutable_data_ptr<T>();
    k.eps = T(eps);
    if (p.channels_last) {
      forward_kernel<scalar_t, T, true><<<blocks_for(p), threads, 0, stream>>>(k);
    } else {
      forward_kernel<scalar_t, T, false><<<blocks_for(p), threads, 0, stream>>>(k);
    }
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {y, mean, rstd};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> adain_grad_cuda(
    const at::Tensor& dy, const at::Tensor& x, const at::Tensor& scale, const at::Tensor& mean,
    const at::Tensor& rstd, double eps) {
  TORCH_CHECK(x.device().is_cuda(), "adain_grad_cuda: x must be a CUDA tensor, got ",
              x.device());
  const AdainPlan p = plan_adain("adain_grad", x, scale, std::nullopt, eps);
  check_adain_grad("adain_grad", p, dy, mean, rstd);
  const c10::cuda::CUDAGuard guard(x.device());
  const at::Tensor g = same_layout(dy, p.x);
  const at::Tensor m = mean.contiguous(), r = rstd.contiguous();
  at::Tensor dx = at::empty_like(p.x);
  at::Tensor dscale = at::zeros({p.N, p.C}, scale.options());
  at::Tensor dbias = at::zeros({p.N, p.C}, scale.options());
  if (dx.numel() == 0) return {dx, dscale, dbias};
  TORCH_CHECK(blocks_for(p) < (int64_t(1) << 31), "adain_grad: N * C must be below 2^31, got ",
              blocks_for(p));

  const auto stream = c10::cuda::getCurrentCUDAStream();
  const dim3 threads(kLanes, kRows);
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, x.scalar_type(), "adain_grad_cuda", [&] {
        using T = at::opmath_type<scalar_t>;
        auto k = make_params<scalar_t, T>(p);
        k.dy = g.const_data_ptr<scalar_t>();
        k.mean_in = m.const_data_ptr<T>();
        k.rstd_in = r.const_data_ptr<T>();
        k.out = dx.mutable_data_ptr<scalar_t>();
        k.dscale = dscale.mutable_data_ptr<scalar_t>();
        k.dbias = dbias.mutable_data_ptr<scalar_t>();
        if (p.channels_last) {
          backward_kernel<scalar_t, T, true><<<blocks_for(p), threads, 0, stream>>>(k);
        } else {
          backward_kernel<scalar_t, T, false><<<blocks_for(p), threads, 0, stream>>>(k);
        }
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
  return {dx, dscale, dbias};
}

}  // namespace fastgan
