// CUDA kernels of upfirdn2d.
//
// The tiled kernel gives each block a tile of output pixels of one image plane (looping over
// planes): the block stages the input pixels the tile reads, and the filter, in shared memory,
// then each thread sums the taps of its outputs from there. Specialisations fix the common
// factors (up or down by 2, or none) at compile time; a generic kernel (one thread per output,
// reading global memory) serves filters or factors whose tile would not fit in shared memory.
// A separable filter runs as two passes of the 2-D kernel, with filters [1, ft] and [ft, 1];
// the image between the passes is kept in the arithmetic type (float for half types).
#include <algorithm>

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "ops.h"
#include "upfirdn2d/upfirdn2d.h"

namespace fastgan {

namespace {

using upfirdn2d::Axis;

constexpr int kThreads = 256;
// Output tile of the tiled kernel, before shrinking to fit shared memory.
constexpr int kTile = 32;
// Shared memory a block may use without opting in to more.
constexpr int64_t kSharedBytes = 48 * 1024;
// Most blocks along the grid's z axis (planes beyond it are looped over).
constexpr int64_t kMaxGridZ = 65535;

template <typename in_t, typename out_t, typename opmath_t>
struct Params {
  const in_t* x;      // input [planes, ay.in, ax.in], contiguous
  out_t* y;           // output [planes, ay.out, ax.out], contiguous
  const opmath_t* f;  // filter [ay.taps, ax.taps], correlation order, gain included
  int64_t planes;     // N * C
  Axis ax;            // resampling along W
  Axis ay;            // resampling along H
  int tile_w;         // output tile width of the tiled kernel, pixels
  int tile_h;         // output tile height of the tiled kernel, pixels
  int in_w;           // width of the staged input tile (an upper bound over tiles), pixels
  int in_h;           // height of the staged input tile, pixels
};

// The factor as a compile-time constant where the kernel is specialised (> 0), else at run time.
template <int Fixed>
__device__ __forceinline__ int64_t factor(int64_t runtime) {
  return Fixed > 0 ? Fixed : runtime;
}

// tap_start of upfirdn2d.h with the factors given separately, so that fixed ones fold.
__device__ __forceinline__ upfirdn2d::TapStart tap_start(int64_t o, int64_t up, int64_t down,
                                                         int64_t pad0) {
  const int64_t s = o * down - pad0;
  const int64_t j0 = upfirdn2d::floor_mod(-s, up);
  return {j0, upfirdn2d::floor_div(s + j0, up)};
}

template <typename in_t, typename out_t, typename opmath_t, int UpX, int UpY, int DownX,
          int DownY>
__global__ void tiled_kernel(Params<in_t, out_t, opmath_t> p) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  opmath_t* sf = reinterpret_cast<opmath_t*>(smem_raw);  // filter [ay.taps * ax.taps]
  const int fw = static_cast<int>(p.ax.taps), fh = static_cast<int>(p.ay.taps);
  opmath_t* sx = sf + fw * fh;                             // input tile [in_h, in_w]
  const int64_t upx = factor<UpX>(p.ax.up), upy = factor<UpY>(p.ay.up);
  const int64_t downx = factor<DownX>(p.ax.down), downy = factor<DownY>(p.ay.down);

  for (int i = threadIdx.x; i < fw * fh; i += blockDim.x) sf[i] = p.f[i];

  // This block's output tile and the input rectangle it reads (clipped to the tile's bound).
  const int64_t ox0 = int64_t(blockIdx.x) * p.tile_w, oy0 = int64_t(blockIdx.y) * p.tile_h;
  const int64_t ix0 = tap_start(ox0, upx, downx, p.ax.pad0).i0;
  const int64_t iy0 = tap_start(oy0, upy, downy, p.ay.pad0).i0;
  const int tile_n = p.tile_w * p.tile_h, in_n = p.in_w * p.in_h;

  for (int64_t plane = blockIdx.z; plane < p.planes; plane += gridDim.z) {
    const in_t* xp = p.x + plane * p.ay.in * p.ax.in;
    out_t* yp = p.y + plane * p.ay.out * p.ax.out;

    // Stage the input tile, zeros outside the image. Flat index i = r * in_w + c.
    __syncthreads();
    for (int i = threadIdx.x; i < in_n; i += blockDim.x) {
      const int64_t iy = iy0 + i / p.in_w, ix = ix0 + i % p.in_w;
      const bool inside = iy >= 0 && iy < p.ay.in && ix >= 0 && ix < p.ax.in;
      sx[i] = inside ? opmath_t(xp[iy * p.ax.in + ix]) : opmath_t(0);
    }
    __syncthreads();

    // Each thread sums the taps of its outputs. Flat index i = ty * tile_w + tx.
    for (int i = threadIdx.x; i < tile_n; i += blockDim.x) {
      const int64_t oy = oy0 + i / p.tile_w, ox = ox0 + i % p.tile_w;
      if (oy >= p.ay.out || ox >= p.ax.out) continue;
      const upfirdn2d::TapStart ty = tap_start(oy, upy, downy, p.ay.pad0);
      const upfirdn2d::TapStart tx = tap_start(ox, upx, downx, p.ax.pad0);
      opmath_t acc = 0;
      int ry = static_cast<int>(ty.i0 - iy0);
      for (int jy = static_cast<int>(ty.j0); jy < fh; jy += static_cast<int>(upy), ++ry) {
        const opmath_t* frow = sf + jy * fw;
        const opmath_t* xrow = sx + ry * p.in_w + (tx.i0 - ix0);
        int rx = 0;
        for (int jx = static_cast<int>(tx.j0); jx < fw; jx += static_cast<int>(upx), ++rx) {
          acc += frow[jx] * xrow[rx];
        }
      }
      yp[oy * p.ax.out + ox] = out_t(acc);
    }
  }
}

// One thread per output pixel, grid-stride, 64-bit flat index
// i = ((plane * ay.out) + oy) * ax.out + ox.
template <typename in_t, typename out_t, typename opmath_t>
__global__ void generic_kernel(Params<in_t, out_t, opmath_t> p) {
  const int64_t total = p.planes * p.ay.out * p.ax.out;
  const int64_t stride = int64_t(blockDim.x) * gridDim.x;
  const int fw = static_cast<int>(p.ax.taps), fh = static_cast<int>(p.ay.taps);
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t ox = i % p.ax.out, oy = (i / p.ax.out) % p.ay.out;
    const int64_t plane = i / (p.ax.out * p.ay.out);
    const in_t* xp = p.x + plane * p.ay.in * p.ax.in;
    const upfirdn2d::TapStart ty = upfirdn2d::tap_start(p.ay, oy);
    const upfirdn2d::TapStart tx = upfirdn2d::tap_start(p.ax, ox);
    opmath_t acc = 0;
    int64_t iy = ty.i0;
    for (int64_t jy = ty.j0; jy < fh; jy += p.ay.up, ++iy) {
      if (iy < 0 || iy >= p.ay.in) continue;
      int64_t ix = tx.i0;
      for (int64_t jx = tx.j0; jx < fw; jx += p.ax.up, ++ix) {
        if (ix < 0 || ix >= p.ax.in) continue;
        acc += p.f[jy * fw + jx] * opmath_t(xp[iy * p.ax.in + ix]);
      }
    }
    p.y[i] = out_t(acc);
  }
}

// Calls launch with the compile-time factors (up x, up y, down x, down y) of a specialisation,
// or all zero (read at run time).
template <typename F>
void dispatch_factors(const Axis& ax, const Axis& ay, F&& launch) {
  using I = std::integral_constant<int, 1>;
  using II = std::integral_constant<int, 2>;
  using R = std::integral_constant<int, 0>;
  const int64_t ux = ax.up, uy = ay.up, dx = ax.down, dy = ay.down;
  if (ux == 1 && uy == 1 && dx == 1 && dy == 1) return launch(I{}, I{}, I{}, I{});
  if (ux == 2 && uy == 2 && dx == 1 && dy == 1) return launch(II{}, II{}, I{}, I{});
  if (ux == 1 && uy == 1 && dx == 2 && dy == 2) return launch(I{}, I{}, II{}, II{});
  // The passes of separable filters.
  if (ux == 2 && uy == 1 && dx == 1 && dy == 1) return launch(II{}, I{}, I{}, I{});
  if (ux == 1 && uy == 2 && dx == 1 && dy == 1) return launch(I{}, II{}, I{}, I{});
  if (ux == 1 && uy == 1 && dx == 2 && dy == 1) return launch(I{}, I{}, II{}, I{});
  if (ux == 1 && uy == 1 && dx == 1 && dy == 2) return launch(I{}, I{}, I{}, II{});
  return launch(R{}, R{}, R{}, R{});
}

// Input pixels an output tile of `tile` pixels reads along one axis, at most.
int64_t input_span(const Axis& a, int64_t tile) {
  return ((tile - 1) * a.down + a.taps - 1) / a.up + 2;
}

// Launches the tiled kernel where its tile fits in shared memory, else the generic one.
// fc: the filter [ay.taps, ax.taps] in correlation order, gain included, in opmath_t.
template <typename in_t, typename out_t, typename opmath_t>
void launch(const Upfirdn2dPlan& p, const at::Tensor& fc, at::Tensor& y) {
  const auto stream = c10::cuda::getCurrentCUDAStream();
  Params<in_t, out_t, opmath_t> k;
  k.x = p.x.const_data_ptr<in_t>();
  k.y = y.mutable_data_ptr<out_t>();
  k.f = fc.const_data_ptr<opmath_t>();
  k.planes = p.x.size(0) * p.x.size(1);
  k.ax = p.ax;
  k.ay = p.ay;

  // The largest tile (up to kTile square) whose staged input and filter fit.
  int64_t tw = std::min<int64_t>(kTile, p.ax.out), th = std::min<int64_t>(kTile, p.ay.out);
  auto shared_bytes = [&] {
    return (input_span(p.ax, tw) * input_span(p.ay, th) + p.ax.taps * p.ay.taps) *
           int64_t(sizeof(opmath_t));
  };
  while (shared_bytes() > kSharedBytes && (tw > 4 || th > 4)) {
    tw = std::max<int64_t>(tw / 2, 1), th = std::max<int64_t>(th / 2, 1);
  }
  const int64_t tiles_x = (p.ax.out + tw - 1) / tw, tiles_y = (p.ay.out + th - 1) / th;
  if (shared_bytes() <= kSharedBytes && tiles_y <= kMaxGridZ) {
    k.tile_w = static_cast<int>(tw);
    k.tile_h = static_cast<int>(th);
    k.in_w = static_cast<int>(input_span(p.ax, tw));
    k.in_h = static_cast<int>(input_span(p.ay, th));
    const dim3 grid(static_cast<unsigned>(tiles_x), static_cast<unsigned>(tiles_y),
                    static_cast<unsigned>(std::min(k.planes, kMaxGridZ)));
    const size_t smem = static_cast<size_t>(shared_bytes());
    dispatch_factors(p.ax, p.ay, [&](auto ux, auto uy, auto dx, auto dy) {
      tiled_kernel<in_t, out_t, opmath_t, decltype(ux)::value, decltype(uy)::value,
                   decltype(dx)::value, decltype(dy)::value><<<grid, kThreads, smem, stream>>>(k);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
    return;
  }
  k.tile_w = k.tile_h = k.in_w = k.in_h = 0;
  const int64_t total = k.planes * p.ay.out * p.ax.out;
  const int blocks = static_cast<int>(std::min<int64_t>((total + kThreads - 1) / kThreads, 65536));
  generic_kernel<in_t, out_t, opmath_t><<<blocks, kThreads, 0, stream>>>(k);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// Runs one 2-D filter pass, y = upfirdn2d(x), for images of `dtype`; the input (in_op) or the
// output (out_op) may be held in dtype's arithmetic type instead.
at::Tensor run_pass(const Upfirdn2dPlan& p, at::ScalarType dtype, bool in_op, bool out_op) {
  const auto op_dtype = at::toOpMathType(dtype);
  at::Tensor y = at::empty({p.x.size(0), p.x.size(1), p.ay.out, p.ax.out},
                           p.x.options().dtype(out_op ? op_dtype : dtype));
  if (y.numel() == 0) return y;
  // Correlation order: flip both axes unless flip_filter; fold in the gain.
  const at::Tensor fc =
      (p.flip_filter ? p.f : p.f.flip({0, 1})).to(op_dtype).mul(p.gain).contiguous();

  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, dtype, "upfirdn2d_cuda", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    if (in_op) {
      launch<opmath_t, scalar_t, opmath_t>(p, fc, y);
    } else if (out_op) {
      launch<scalar_t, opmath_t, opmath_t>(p, fc, y);
    } else {
      launch<scalar_t, scalar_t, opmath_t>(p, fc, y);
    }
  });
  return y;
}

}  // namespace

at::Tensor upfirdn2d_cuda(const at::Tensor& x, const at::Tensor& f, int64_t upx, int64_t upy,
                          int64_t downx, int64_t downy, int64_t padx0, int64_t padx1,
                          int64_t pady0, int64_t pady1, bool flip_filter, double gain) {
  TORCH_CHECK(x.device().is_cuda(), "upfirdn2d_cuda: x must be a CUDA tensor, got ", x.device());
  const Upfirdn2dPlan p = plan_upfirdn2d(x, f, upx, upy, downx, downy, padx0, padx1, pady0,
                                         pady1, flip_filter, gain, true);
  const c10::cuda::CUDAGuard guard(x.device());
  const auto dtype = x.scalar_type();
  at::Tensor y;
  if (!p.separable) {
    y = run_pass(p, dtype, false, false);
  } else {
    // Along x with [1, ft] (no gain), then along y with [ft, 1] (the gain).
    const int64_t taps = p.f.size(0);
    Upfirdn2dPlan px = p;
    px.separable = false;
    px.f = p.f.view({1, taps});
    px.ay = {p.ay.in, p.ay.in, 1, 1, 0, 1};
    px.gain = 1.0;
    const at::Tensor mid = run_pass(px, dtype, false, true);
    Upfirdn2dPlan py = px;
    py.x = mid;
    py.f = p.f.view({taps, 1});
    py.ax = {p.ax.out, p.ax.out, 1, 1, 0, 1};
    py.ay = p.ay;
    py.gain = p.gain;
    y = run_pass(py, dtype, true, false);
  }
  return p.channels_last ? y.contiguous(at::MemoryFormat::ChannelsLast) : y;
}

}  // namespace fastgan
