// CUDA kernels of bias_act and its gradient: one thread per element, grid-stride, 64-bit index.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty_like.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "bias_act/bias_act.h"
#include "ops.h"

namespace fastgan {

namespace {

using bias_act::Act;

constexpr int kThreads = 256;

// Fields shared by the forward and gradient kernels.
template <typename scalar_t, typename opmath_t>
struct Params {
  const scalar_t* x;   // input, dense, [numel] in memory order
  const scalar_t* b;   // bias [C], or nullptr
  const scalar_t* dy;  // incoming gradient in the layout of x (gradient kernel only)
  scalar_t* out;       // output [numel] in the layout of x
  int64_t numel;       // elements of x
  int64_t channels;    // C
  int64_t inner;       // x.stride(dim): element i has channel (i / inner) % C
  bias_act::Scalars<opmath_t> s;
};

template <typename scalar_t, typename opmath_t>
__device__ __forceinline__ opmath_t input(const Params<scalar_t, opmath_t>& p, int64_t i) {
  opmath_t v = opmath_t(p.x[i]);
  if (p.b != nullptr) v += opmath_t(p.b[(i / p.inner) % p.channels]);
  return v;
}

template <typename scalar_t, typename opmath_t, Act A, bool Clamp>
__global__ void forward_kernel(Params<scalar_t, opmath_t> p) {
  const int64_t stride = int64_t(blockDim.x) * gridDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < p.numel; i += stride) {
    p.out[i] = scalar_t(bias_act::forward<A, Clamp>(input(p, i), p.s));
  }
}

template <typename scalar_t, typename opmath_t, Act A, int Order, bool Clamp>
__global__ void grad_kernel(Params<scalar_t, opmath_t> p) {
  const int64_t stride = int64_t(blockDim.x) * gridDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < p.numel; i += stride) {
    p.out[i] = scalar_t(bias_act::backward<A, Order, Clamp>(opmath_t(p.dy[i]), input(p, i), p.s));
  }
}

int blocks_for(int64_t numel) {
  // Enough blocks to fill any current GPU several times; the grid-stride loop covers the rest.
  return static_cast<int>(std::min<int64_t>((numel + kThreads - 1) / kThreads, 65536));
}

template <typename scalar_t>
Params<scalar_t, at::opmath_type<scalar_t>> make_params(const BiasActPlan& p, at::Tensor& out) {
  using opmath_t = at::opmath_type<scalar_t>;
  Params<scalar_t, opmath_t> k;
  k.x = p.x.const_data_ptr<scalar_t>();
  k.b = p.b.defined() ? p.b.const_data_ptr<scalar_t>() : nullptr;
  k.dy = nullptr;
  k.out = out.mutable_data_ptr<scalar_t>();
  k.numel = p.x.numel();
  k.channels = p.channels;
  k.inner = p.inner;
  k.s = {opmath_t(p.alpha), opmath_t(p.gain), opmath_t(p.clamp)};
  return k;
}

}  // namespace

at::Tensor bias_act_cuda(const at::Tensor& x, const std::optional<at::Tensor>& b, int64_t dim,
                         const std::string& act, double alpha, double gain,
                         std::optional<double> clamp) {
  TORCH_CHECK(x.device().is_cuda(), "bias_act_cuda: x must be a CUDA tensor, got ", x.device());
  const BiasActPlan p = plan_bias_act(x, b, dim, act, alpha, gain, clamp, true);
  const c10::cuda::CUDAGuard guard(x.device());
  at::Tensor y = at::empty_like(p.x);
  if (y.numel() == 0) return y;

  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "bias_act_cuda", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    const auto k = make_params<scalar_t>(p, y);
    bias_act::dispatch_act(p.act, [&](auto a) {
      bias_act::dispatch_bool(p.clamp >= 0, [&](auto c) {
        forward_kernel<scalar_t, opmath_t, decltype(a)::value, decltype(c)::value>
            <<<blocks_for(k.numel), kThreads, 0, stream>>>(k);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
    });
  });
  return y;
}

at::Tensor bias_act_grad_cuda(const at::Tensor& dy, const at::Tensor& x,
                              const std::optional<at::Tensor>& b, int64_t dim,
                              const std::string& act, double alpha, double gain,
                              std::optional<double> clamp, int64_t order) {
  TORCH_CHECK(x.device().is_cuda() && dy.device() == x.device(),
              "bias_act_grad_cuda: dy and x must be on one CUDA device, got ", dy.device(),
              " and ", x.device());
  TORCH_CHECK(dy.sizes() == x.sizes() && dy.scalar_type() == x.scalar_type(),
              "bias_act_grad: dy must match x in shape and dtype (", x.sizes(), ", ",
              x.scalar_type(), "), got ", dy.sizes(), ", ", dy.scalar_type());
  TORCH_CHECK(order == 1 || order == 2, "bias_act_grad: order must be 1 or 2, got ", order);
  const BiasActPlan p = plan_bias_act(x, b, dim, act, alpha, gain, clamp, true);
  const c10::cuda::CUDAGuard guard(x.device());
  const at::Tensor g = same_layout(dy, p.x);
  at::Tensor dx = at::empty_like(p.x);
  if (dx.numel() == 0) return dx;

  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, x.scalar_type(), "bias_act_grad_cuda", [&] {
        using opmath_t = at::opmath_type<scalar_t>;
        auto k = make_params<scalar_t>(p, dx);
        k.dy = g.const_data_ptr<scalar_t>();
        bias_act::dispatch_act(p.act, [&](auto a) {
          bias_act::dispatch_bool(p.clamp >= 0, [&](auto c) {
            bias_act::dispatch_bool(order == 2, [&](auto second) {
              constexpr int kOrder = decltype(second)::value ? 2 : 1;
              grad_kernel<scalar_t, opmath_t, decltype(a)::value, kOrder, decltype(c)::value>
                  <<<blocks_for(k.numel), kThreads, 0, stream>>>(k);
              C10_CUDA_KERNEL_LAUNCH_CHECK();
            });
          });
        });
      });
  return dx;
}

}  // namespace fastgan
