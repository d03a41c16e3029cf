// CUDA kernels of modulated_conv2d's native parts: modulated weights and their gradient, the
// per-plane scale + noise epilogue and its gradient. Grid-stride loops with 64-bit indices.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/sum.h>
#include <ATen/ops/zeros.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "modconv/modconv.h"
#include "ops.h"

namespace fastgan {

namespace {

constexpr int kThreads = 256;
constexpr int kWarp = 32;
// Output channels summed by one thread of the styles gradient (the rest is summed by ATen).
constexpr int64_t kOutputChunk = 32;

int blocks_for(int64_t work) {
  // Enough blocks to fill any current GPU several times; the grid-stride loops cover the rest.
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>((work + kThreads - 1) / kThreads,
                                                                  65536)));
}

template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    v += __shfl_down_sync(0xffffffffu, v, offset);
  }
  return v;
}

template <typename scalar_t>
struct WeightParams {
  const scalar_t* weight;  // [O, J], J = I * K
  const scalar_t* a;       // [N, I]
  const scalar_t* b;       // [N, O], or nullptr for ones
  const scalar_t* g;       // [N, O, J] incoming gradient (backward only)
  scalar_t* out;           // [N, O, J] modulated weights (forward), or gweight [O, J] / gb [N, O]
  int64_t N, O, I, K;
};

template <typename scalar_t, typename T>
__device__ __forceinline__ T b_at(const WeightParams<scalar_t>& p, int64_t row) {
  return p.b == nullptr ? T(1) : T(p.b[row]);
}

// Element e of [N, O, J]: row r = n * O + o = e / J, column j = i * K + k = e % J.
template <typename scalar_t, typename T>
__global__ void weight_forward_kernel(WeightParams<scalar_t> p) {
  const int64_t J = p.I * p.K, numel = p.N * p.O * J;
  const int64_t stride = int64_t(blockDim.x) * gridDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < numel; e += stride) {
    const int64_t r = e / J, j = e % J, n = r / p.O, o = r % p.O;
    const T a = T(p.a[n * p.I + j / p.K]);
    p.out[e] = scalar_t(modconv::modulate(T(p.weight[o * J + j]), a, b_at<scalar_t, T>(p, r)));
  }
}

// gweight[o, j] = sum_n g[n, o, j] * a[n, j / K] * b[n, o]; one thread per (o, j).
template <typename scalar_t, typename T>
__global__ void weight_grad_weight_kernel(WeightParams<scalar_t> p) {
  const int64_t J = p.I * p.K, numel = p.O * J;
  const int64_t stride = int64_t(blockDim.x) * gridDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < numel; e += stride) {
    const int64_t o = e / J, j = e % J;
    T sum = T(0);
    for (int64_t n = 0; n < p.N; ++n) {
      sum += T(p.g[(n * p.O + o) * J + j]) * T(p.a[n * p.I + j / p.K]) *
             b_at<scalar_t, T>(p, n * p.O + o);
    }
    p.out[e] = scalar_t(sum);
  }
}

// gb[n, o] = sum_j g[n, o, j] * weight[o, j] * a[n, j / K]; one warp per row (n, o).
template <typename scalar_t, typename T>
__global__ void weight_grad_b_kernel(WeightParams<scalar_t> p) {
  const int64_t J = p.I * p.K, rows = p.N * p.O;
  const int lane = threadIdx.x % kWarp;
  const int64_t warps = int64_t(blockDim.x) / kWarp * gridDim.x;
  for (int64_t r = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / kWarp; r < rows;
       r += warps) {
    const int64_t n = r / p.O, o = r % p.O;
    T sum = T(0);
    for (int64_t j = lane; j < J; j += kWarp) {
      sum += T(p.g[r * J + j]) * T(p.weight[o * J + j]) * T(p.a[n * p.I + j / p.K]);
    }
    sum = warp_sum(sum);
    if (lane == 0) p.out[r] = scalar_t(sum);
  }
}

// partial[chunk, n, i] = sum over o in the chunk and over k of g * weight * b; one thread per
// (chunk, n, i).
template <typename scalar_t, typename T>
__global__ void weight_grad_a_kernel(WeightParams<scalar_t> p, T* partial) {
  const int64_t J = p.I * p.K, chunks = (p.O + kOutputChunk - 1) / kOutputChunk;
  const int64_t numel = chunks * p.N * p.I;
  const int64_t stride = int64_t(blockDim.x) * gridDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < numel; e += stride) {
    const int64_t chunk = e / (p.N * p.I), n = (e / p.I) % p.N, i = e % p.I;
    const int64_t o1 = std::min(p.O, (chunk + 1) * kOutputChunk);
    T sum = T(0);
    for (int64_t o = chunk * kOutputChunk; o < o1; ++o) {
      const scalar_t* gr = p.g + (n * p.O + o) * J + i * p.K;
      const scalar_t* wr = p.weight + o * J + i * p.K;
      T dot = T(0);
      for (int64_t k = 0; k < p.K; ++k) dot += T(gr[k]) * T(wr[k]);
      sum += dot * b_at<scalar_t, T>(p, n * p.O + o);
    }
    partial[e] = sum;
  }
}

template <typename scalar_t>
struct ScaleParams {
  const scalar_t* x;      // [N, C, H, W] in the plan's layout
  const scalar_t* s;      // [N, C]
  const scalar_t* noise;  // element (n, c, h, w) at n * sn + c * sc + h * sh + w * sw; or null
  scalar_t* out;          // y (layout of x) or gs [N, C]
  int64_t sn, sc, sh, sw; // noise strides
  int64_t N, C, L, W;     // L = H * W
};

// Element e of x: [N, C, L] order, or channels-last [N, L, C] order.
template <bool ChannelsLast>
__device__ __forceinline__ void decompose(int64_t e, int64_t C, int64_t L, int64_t& n,
                                          int64_t& c, int64_t& l) {
  if constexpr (ChannelsLast) {
    c = e % C;
    n = e / C / L;
    l = (e / C) % L;
  } else {
    l = e % L;
    n = e / L / C;
    c = (e / L) % C;
  }
}

template <typename scalar_t, typename T, bool ChannelsLast>
__global__ void scale_kernel(ScaleParams<scalar_t> p) {
  const int64_t numel = p.N * p.C * p.L;
  const int64_t stride = int64_t(blockDim.x) * gridDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < numel; e += stride) {
    int64_t n, c, l;
    decompose<ChannelsLast>(e, p.C, p.L, n, c, l);
    const T noise = p.noise == nullptr
                        ? T(0)
                        : T(p.noise[n * p.sn + c * p.sc + (l / p.W) * p.sh + (l % p.W) * p.sw]);
    p.out[e] = scalar_t(modconv::scale(T(p.x[e]), T(p.s[n * p.C + c]), noise));
  }
}

// gs[q] = sum_l g * x over plane q = n * C + c, [N, C, L] layout: one warp per plane.
template <typename scalar_t, typename T>
__global__ void scale_grad_planes_kernel(ScaleParams<scalar_t> p, const scalar_t* g) {
  const int lane = threadIdx.x % kWarp;
  const int64_t warps = int64_t(blockDim.x) / kWarp * gridDim.x;
  for (int64_t q = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / kWarp; q < p.N * p.C;
       q += warps) {
    T sum = T(0);
    for (int64_t l = lane; l < p.L; l += kWarp) sum += T(g[q * p.L + l]) * T(p.x[q * p.L + l]);
    sum = warp_sum(sum);
    if (lane == 0) p.out[q] = scalar_t(sum);
  }
}

// The same sums in channels-last layout: one thread per (n, c), neighbouring threads reading
// neighbouring channels.
template <typename scalar_t, typename T>
__global__ void scale_grad_channels_last_kernel(ScaleParams<scalar_t> p, const scalar_t* g) {
  const int64_t stride = int64_t(blockDim.x) * gridDim.x;
  for (int64_t q = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; q < p.N * p.C; q += stride) {
    const int64_t n = q / p.C, c = q % p.C;
    T sum = T(0);
    for (int64_t l = 0; l < p.L; ++l) {
      const int64_t e = (n * p.L + l) * p.C + c;
      sum += T(g[e]) * T(p.x[e]);
    }
    p.out[q] = scalar_t(sum);
  }
}

template <typename scalar_t>
WeightParams<scalar_t> weight_params(const ModconvWeightPlan& plan) {
  WeightParams<scalar_t> k{};
  k.weight = plan.weight.const_data_ptr<scalar_t>();
  k.a = plan.a.const_data_ptr<scalar_t>();
  k.b = plan.b.defined() ? plan.b.const_data_ptr<scalar_t>() : nullptr;
  k.N = plan.N;
  k.O = plan.O;
  k.I = plan.I;
  k.K = plan.K;
  return k;
}

template <typename scalar_t>
ScaleParams<scalar_t> scale_params(const ModconvScalePlan& plan, const at::Tensor& x) {
  ScaleParams<scalar_t> k{};
  k.x = x.const_data_ptr<scalar_t>();
  k.s = plan.s.const_data_ptr<scalar_t>();
  k.N = plan.N;
  k.C = plan.C;
  k.L = plan.L;
  k.W = plan.W;
  return k;
}

template <typename scalar_t>
void launch_scale(const ScaleParams<scalar_t>& k, bool channels_last, cudaStream_t stream) {
  using T = at::opmath_type<scalar_t>;
  const int blocks = blocks_for(k.N * k.C * k.L);
  if (channels_last) {
    scale_kernel<scalar_t, T, true><<<blocks, kThreads, 0, stream>>>(k);
  } else {
    scale_kernel<scalar_t, T, false><<<blocks, kThreads, 0, stream>>>(k);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace

at::Tensor modconv_weight_cuda(const at::Tensor& weight, const at::Tensor& a,
                               const std::optional<at::Tensor>& b) {
  TORCH_CHECK(weight.device().is_cuda(), "modconv_weight_cuda: weight must be a CUDA tensor, got ",
              weight.device());
  const ModconvWeightPlan p = plan_modconv_weight("modconv_weight", weight, a, b);
  const c10::cuda::CUDAGuard guard(weight.device());
  at::Tensor out = at::empty({p.N, p.O, p.I, weight.size(2), weight.size(3)}, weight.options());
  if (out.numel() == 0) return out;
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, weight.scalar_type(), "modconv_weight_cuda", [&] {
        using T = at::opmath_type<scalar_t>;
        auto k = weight_params<scalar_t>(p);
        k.out = out.mutable_data_ptr<scalar_t>();
        weight_forward_kernel<scalar_t, T><<<blocks_for(out.numel()), kThreads, 0, stream>>>(k);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> modconv_weight_grad_cuda(
    const at::Tensor& g, const at::Tensor& weight, const at::Tensor& a,
    const std::optional<at::Tensor>& b) {
  TORCH_CHECK(weight.device().is_cuda() && g.device() == weight.device(),
              "modconv_weight_grad_cuda: g and weight must be on one CUDA device, got ",
              g.device(), " and ", weight.device());
  const ModconvWeightPlan p = plan_modconv_weight("modconv_weight_grad", weight, a, b);
  const std::array<int64_t, 5> shape = {p.N, p.O, p.I, weight.size(2), weight.size(3)};
  TORCH_CHECK(g.sizes() == at::IntArrayRef(shape) && g.scalar_type() == weight.scalar_type(),
              "modconv_weight_grad: g must be [N, O, I, kh, kw] = ", at::IntArrayRef(shape),
              " of ", weight.scalar_type(), ", got ", g.sizes(), " of ", g.scalar_type());
  const c10::cuda::CUDAGuard guard(weight.device());
  const at::Tensor gc = g.contiguous();
  at::Tensor gweight = at::empty_like(p.weight);
  at::Tensor gb = at::empty({p.N, p.O}, weight.options());
  if (g.numel() == 0) {
    gweight.zero_();
    gb.zero_();
    return {gweight, at::zeros({p.N, p.I}, weight.options()), gb};
  }
  const int64_t chunks = (p.O + kOutputChunk - 1) / kOutputChunk;
  const auto opmath = at::toOpMathType(weight.scalar_type());
  at::Tensor partial = at::empty({chunks, p.N, p.I}, weight.options().dtype(opmath));
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, weight.scalar_type(), "modconv_weight_grad_cuda", [&] {
        using T = at::opmath_type<scalar_t>;
        auto k = weight_params<scalar_t>(p);
        k.g = gc.const_data_ptr<scalar_t>();
        k.out = gweight.mutable_data_ptr<scalar_t>();
        weight_grad_weight_kernel<scalar_t, T>
            <<<blocks_for(gweight.numel()), kThreads, 0, stream>>>(k);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
        k.out = gb.mutable_data_ptr<scalar_t>();
        weight_grad_b_kernel<scalar_t, T>
            <<<blocks_for(p.N * p.O * kWarp), kThreads, 0, stream>>>(k);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
        weight_grad_a_kernel<scalar_t, T><<<blocks_for(partial.numel()), kThreads, 0, stream>>>(
            k, partial.mutable_data_ptr<T>());
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
  at::Tensor ga = at::sum(partial, 0).to(weight.scalar_type());
  return {gweight, ga, gb};
}

at::Tensor modconv_scale_cuda(const at::Tensor& x, const at::Tensor& s,
                              const std::optional<at::Tensor>& noise) {
  TORCH_CHECK(x.device().is_cuda(), "modconv_scale_cuda: x must be a CUDA tensor, got ",
              x.device());
  const ModconvScalePlan p = plan_modconv_scale("modconv_scale", x, s);
  const bool has_noise = noise.has_value() && noise->defined();
  if (has_noise) check_modconv_noise("modconv_scale", p, *noise);
  const c10::cuda::CUDAGuard guard(x.device());
  at::Tensor y = at::empty_like(p.x);
  if (y.numel() == 0) return y;
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "modconv_scale_cuda",
                                  [&] {
    auto k = scale_params<scalar_t>(p, p.x);
    k.out = y.mutable_data_ptr<scalar_t>();
    if (has_noise) {
      k.noise = noise->const_data_ptr<scalar_t>();
      k.sn = noise->stride(0);
      k.sc = noise->stride(1);
      k.sh = noise->stride(2);
      k.sw = noise->stride(3);
    }
    launch_scale(k, p.channels_last, stream);
  });
  return y;
}

std::tuple<at::Tensor, at::Tensor> modconv_scale_grad_cuda(const at::Tensor& g,
                                                           const at::Tensor& x,
                                                           const at::Tensor& s) {
  TORCH_CHECK(x.device().is_cuda() && g.device() == x.device(),
              "modconv_scale_grad_cuda: g and x must be on one CUDA device, got ", g.device(),
              " and ", x.device());
  const ModconvScalePlan p = plan_modconv_scale("modconv_scale_grad", x, s);
  TORCH_CHECK(g.sizes() == x.sizes() && g.scalar_type() == x.scalar_type(),
              "modconv_scale_grad: g must match x in shape and dtype (", x.sizes(), ", ",
              x.scalar_type(), "), got ", g.sizes(), ", ", g.scalar_type());
  const c10::cuda::CUDAGuard guard(x.device());
  const at::Tensor gl = same_layout(g, p.x);
  at::Tensor gx = at::empty_like(p.x);
  at::Tensor gs = at::empty({p.N, p.C}, s.options());
  if (p.N * p.C == 0) return {gx, gs};
  if (gx.numel() == 0) return {gx, gs.zero_()};
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, x.scalar_type(), "modconv_scale_grad_cuda", [&] {
        using T = at::opmath_type<scalar_t>;
        // gx = g * s: the forward kernel applied to g, without noise.
        auto k = scale_params<scalar_t>(p, gl);
        k.out = gx.mutable_data_ptr<scalar_t>();
        launch_scale(k, p.channels_last, stream);

        // gs = sum over each plane of g * x.
        k = scale_params<scalar_t>(p, p.x);
        k.out = gs.mutable_data_ptr<scalar_t>();
        const scalar_t* gp = gl.const_data_ptr<scalar_t>();
        if (p.channels_last) {
          scale_grad_channels_last_kernel<scalar_t, T>
              <<<blocks_for(p.N * p.C), kThreads, 0, stream>>>(k, gp);
        } else {
          scale_grad_planes_kernel<scalar_t, T>
              <<<blocks_for(p.N * p.C * kWarp), kThreads, 0, stream>>>(k, gp);
        }
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
  return {gx, gs};
}

}  // namespace fastgan
