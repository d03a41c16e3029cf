// CUDA kernels of filtered_lrelu. One block computes a square tile of output samples of one
// channel plane at a time: it stages the input tile in shared memory, upsamples it (along x,
// then y, for a separable up filter), activates the mid tile, writes the codes of the mid
// samples it owns, and filters the mid tile down (along y, then x, for a separable down
// filter). Arithmetic is in float (double for float64 data).
#include <algorithm>
#include <limits>

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "filtered_lrelu/filtered_lrelu.h"
#include "ops.h"

namespace fastgan {

namespace {

namespace flr = filtered_lrelu;
using flr::Axis;
using flr::Mode;

constexpr int kThreads = 256;
// Shared memory a block may use without opting in to more (every GPU since Volta has it).
constexpr size_t kSharedBytes = 48 * 1024;
// Output tile sides tried, largest first: multiples of kCodesPerByte, so that tiles own whole
// bytes of the sign tensor.
constexpr int kTiles[] = {32, 16, 8, 4};

template <typename scalar_t, typename opmath_t>
struct Params {
  const scalar_t* in;       // input planes, strides in_stride
  int64_t in_stride[4];     // N, C, H, W strides of the input (elements)
  int64_t channels;         // C
  int64_t planes;           // N * C
  const scalar_t* b;        // bias [C] or nullptr
  scalar_t* out;            // output planes, strides out_stride
  int64_t out_stride[4];    // N, C, H, W strides of the output (elements)
  const opmath_t* w1;       // up taps: [taps] or [ay.taps_up, ax.taps_up]
  int w1_numel;             // taps in w1
  bool w1_separable;        // w1 is 1-D, used along both axes
  const opmath_t* w2;       // down taps: [taps] or [ay.taps_down, ax.taps_down]
  int w2_numel;             // taps in w2
  bool w2_separable;        // w2 is 1-D, used along both axes
  Axis ax, ay;              // the core along width and height
  flr::ActScalars<opmath_t> s;  // gain, slope, clamp
  uint8_t* signs;           // [planes, sign_rows, sign_row_bytes] codes, or nullptr
  int64_t sign_rows;        // forward mid rows
  int64_t sign_cols;        // forward mid columns
  int64_t sign_row_bytes;   // bytes per row of the sign tensor
  int tile;                 // output tile side (samples)
  int64_t tiles_x;          // tiles along the width
  int in_max_h, in_max_w;   // largest input tile (samples)
  int mid_max_h, mid_max_w; // largest mid tile (samples)
};

// Input samples that a run of `mid` mid samples reads at most.
int64_t input_span(const Axis& a, int64_t mid) { return (mid + a.taps_up - 2) / a.up + 1; }

int64_t mid_span(const Axis& a, int64_t tile) { return (tile - 1) * a.down + a.taps_down; }

template <typename opmath_t>
size_t shared_bytes(const FilteredLReluPlan& p, int tile, bool codes) {
  const int64_t mw = mid_span(p.ax, tile), mh = mid_span(p.ay, tile);
  const int64_t iw = input_span(p.ax, mw), ih = input_span(p.ay, mh);
  const bool sep1 = p.w1.dim() == 1, sep2 = p.w2.dim() == 1;
  const int64_t values = p.w1.numel() + p.w2.numel() + ih * iw + (sep1 ? ih * mw : 0) +
                         mh * mw + (sep2 ? tile * mw : 0);
  return size_t(values) * sizeof(opmath_t) + (codes ? size_t(mh * mw) : 0);
}

template <typename scalar_t, typename opmath_t, Mode M, bool Clamp>
__global__ void core_kernel(Params<scalar_t, opmath_t> k) {
  extern __shared__ __align__(16) unsigned char shared[];
  const Axis ax = k.ax, ay = k.ay;
  opmath_t* s_w1 = reinterpret_cast<opmath_t*>(shared);
  opmath_t* s_w2 = s_w1 + k.w1_numel;
  opmath_t* s_in = s_w2 + k.w2_numel;
  opmath_t* s_hup = s_in + k.in_max_h * k.in_max_w;
  opmath_t* s_mid = s_hup + (k.w1_separable ? k.in_max_h * k.mid_max_w : 0);
  opmath_t* s_vd = s_mid + k.mid_max_h * k.mid_max_w;
  uint8_t* s_codes =
      reinterpret_cast<uint8_t*>(s_vd + (k.w2_separable ? k.tile * k.mid_max_w : 0));
  const int tid = threadIdx.x, nthreads = blockDim.x;

  for (int i = tid; i < k.w1_numel; i += nthreads) s_w1[i] = k.w1[i];
  for (int i = tid; i < k.w2_numel; i += nthreads) s_w2[i] = k.w2[i];

  // The tile: outputs [oy0, oy0 + ny) x [ox0, ox0 + nx), mid samples from (my0, mx0), inputs
  // from (iy0, ix0).
  const int64_t oy0 = int64_t(blockIdx.x / k.tiles_x) * k.tile;
  const int64_t ox0 = int64_t(blockIdx.x % k.tiles_x) * k.tile;
  const int ny = int(ay.out - oy0 < k.tile ? ay.out - oy0 : k.tile);
  const int nx = int(ax.out - ox0 < k.tile ? ax.out - ox0 : k.tile);
  const int64_t my0 = oy0 * ay.down, mx0 = ox0 * ax.down;
  const int mh = int((ny - 1) * ay.down + ay.taps_down);
  const int mw = int((nx - 1) * ax.down + ax.taps_down);
  const int64_t iy0 = flr::ceil_div(my0 - ay.pad, ay.up), ix0 = flr::ceil_div(mx0 - ax.pad, ax.up);
  const int ih = int(flr::floor_div(my0 + mh + ay.taps_up - 2 - ay.pad, ay.up) - iy0 + 1);
  const int iw = int(flr::floor_div(mx0 + mw + ax.taps_up - 2 - ax.pad, ax.up) - ix0 + 1);

  for (int64_t plane = blockIdx.y; plane < k.planes; plane += gridDim.y) {
    __syncthreads();  // the previous plane is done with shared memory
    const int64_t n = plane / k.channels, c = plane % k.channels;
    const scalar_t* in = k.in + n * k.in_stride[0] + c * k.in_stride[1];
    const opmath_t bias = k.b != nullptr ? opmath_t(k.b[c]) : opmath_t(0);

    // Input tile, bias added, zeros outside the input.
    for (int e = tid; e < ih * iw; e += nthreads) {
      const int64_t iy = iy0 + e / iw, ix = ix0 + e % iw;
      const bool inside = iy >= 0 && iy < ay.in && ix >= 0 && ix < ax.in;
      s_in[e] = inside ? opmath_t(in[iy * k.in_stride[2] + ix * k.in_stride[3]]) + bias
                       : opmath_t(0);
    }
    __syncthreads();

    // Separable up filter: along x first, [ih, mw].
    if (k.w1_separable) {
      for (int e = tid; e < ih * mw; e += nthreads) {
        const int r = e / mw, col = e % mw;
        int64_t t0, t1, ix;
        flr::up_taps(ax, mx0 + col, &t0, &t1, &ix);
        opmath_t acc = 0;
        for (int64_t t = t0; t < t1; t += ax.up, ++ix) acc += s_w1[t] * s_in[r * iw + (ix - ix0)];
        s_hup[e] = acc;
      }
      __syncthreads();
    }

    // Mid tile [mh, mw]: upsampled along y (or in 2-D), then activated.
    for (int e = tid; e < mh * mw; e += nthreads) {
      const int r = e / mw, col = e % mw;
      const int64_t jy = my0 + r, jx = mx0 + col;
      int64_t ty0, ty1, iy;
      flr::up_taps(ay, jy, &ty0, &ty1, &iy);
      opmath_t acc = 0;
      if (k.w1_separable) {
        for (int64_t t = ty0; t < ty1; t += ay.up, ++iy) {
          acc += s_w1[t] * s_hup[(iy - iy0) * mw + col];
        }
      } else {
        int64_t tx0, tx1, ix_first;
        flr::up_taps(ax, jx, &tx0, &tx1, &ix_first);
        for (int64_t ty = ty0; ty < ty1; ty += ay.up, ++iy) {
          const opmath_t* taps = s_w1 + ty * ax.taps_up;
          const opmath_t* row = s_in + (iy - iy0) * iw - ix0;
          int64_t ix = ix_first;
          for (int64_t tx = tx0; tx < tx1; tx += ax.up, ++ix) acc += taps[tx] * row[ix];
        }
      }
      if constexpr (M == Mode::kForward) {
        uint8_t code;
        s_mid[e] = flr::act_forward<Clamp>(acc, k.s, &code);
        s_codes[e] = code;
      } else {
        const uint8_t* sign_plane = k.signs + plane * k.sign_rows * k.sign_row_bytes;
        const uint8_t code = flr::read_code(sign_plane, k.sign_rows, k.sign_cols, k.sign_row_bytes,
                                            jy + ay.sign_offset, jx + ax.sign_offset);
        s_mid[e] = acc * flr::code_factor(code, k.s);
      }
    }
    __syncthreads();

    // Codes of the mid samples this tile owns: from its first mid sample to the next tile's
    // (to the end of the mid grid for the last tile), whole bytes since mx0 % 4 == 0. Where
    // down > taps_down, no output reads the samples between tiles; their codes stay unwritten.
    if (M == Mode::kForward && k.signs != nullptr) {
      int64_t own_h = (oy0 + ny == ay.out ? ay.mid : (oy0 + ny) * ay.down) - my0;
      int64_t own_w = (ox0 + nx == ax.out ? ax.mid : (ox0 + nx) * ax.down) - mx0;
      own_h = own_h < mh ? own_h : mh;
      own_w = own_w < mw ? own_w : mw;
      const int64_t row_bytes = flr::ceil_div(own_w, flr::kCodesPerByte);
      uint8_t* sign_plane = k.signs + plane * k.sign_rows * k.sign_row_bytes;
      for (int64_t e = tid; e < own_h * row_bytes; e += nthreads) {
        const int64_t r = e / row_bytes, byte = e % row_bytes;
        uint8_t packed = 0;
        for (int q = 0; q < flr::kCodesPerByte; ++q) {
          const int64_t col = byte * flr::kCodesPerByte + q;
          if (col < own_w) packed |= uint8_t(s_codes[r * mw + col] << (2 * q));
        }
        sign_plane[(my0 + r) * k.sign_row_bytes + mx0 / flr::kCodesPerByte + byte] = packed;
      }
    }

    // Down filter and the output tile [ny, nx].
    scalar_t* out = k.out + n * k.out_stride[0] + c * k.out_stride[1];
    if (k.w2_separable) {
      for (int e = tid; e < ny * mw; e += nthreads) {
        const int r = e / mw, col = e % mw;
        opmath_t acc = 0;
        for (int64_t t = 0; t < ay.taps_down; ++t) {
          acc += s_w2[t] * s_mid[(r * ay.down + t) * mw + col];
        }
        s_vd[e] = acc;
      }
      __syncthreads();
      for (int e = tid; e < ny * nx; e += nthreads) {
        const int r = e / nx, col = e % nx;
        const opmath_t* row = s_vd + r * mw + col * ax.down;
        opmath_t acc = 0;
        for (int64_t t = 0; t < ax.taps_down; ++t) acc += s_w2[t] * row[t];
        out[(oy0 + r) * k.out_stride[2] + (ox0 + col) * k.out_stride[3]] = scalar_t(acc);
      }
    } else {
      for (int e = tid; e < ny * nx; e += nthreads) {
        const int r = e / nx, col = e % nx;
        opmath_t acc = 0;
        for (int64_t ty = 0; ty < ay.taps_down; ++ty) {
          const opmath_t* taps = s_w2 + ty * ax.taps_down;
          const opmath_t* row = s_mid + (r * ay.down + ty) * mw + col * ax.down;
          for (int64_t tx = 0; tx < ax.taps_down; ++tx) acc += taps[tx] * row[tx];
        }
        out[(oy0 + r) * k.out_stride[2] + (ox0 + col) * k.out_stride[3]] = scalar_t(acc);
      }
    }
  }
}

void run_core_cuda(const FilteredLReluPlan& p, at::Tensor& out) {
  if (out.numel() == 0) return;
  // The forward kernel writes codes to shared memory whether or not it stores them.
  const bool codes = p.mode == Mode::kForward;
  const auto stream = c10::cuda::getCurrentCUDAStream();

  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, p.in.scalar_type(), "filtered_lrelu_cuda", [&] {
        using opmath_t = at::opmath_type<scalar_t>;
        // The largest tile that fits, no larger than the output needs.
        int tile = 0;
        for (int t : kTiles) {
          if (shared_bytes<opmath_t>(p, t, codes) > kSharedBytes) continue;
          if (tile == 0 || 2 * std::max(p.ax.out, p.ay.out) <= tile) tile = t;
        }
        TORCH_CHECK(tile > 0, "filtered_lrelu: filters of ", p.w1.sizes(), " and ",
                    p.w2.sizes(), " taps need more shared memory than a CUDA block has");

        Params<scalar_t, opmath_t> k;
        k.in = p.in.const_data_ptr<scalar_t>();
        k.out = out.mutable_data_ptr<scalar_t>();
        for (int d = 0; d < 4; ++d) {
          k.in_stride[d] = p.in.stride(d);
          k.out_stride[d] = out.stride(d);
        }
        k.channels = out.size(1);
        k.planes = out.size(0) * out.size(1);
        k.b = p.b.defined() ? p.b.const_data_ptr<scalar_t>() : nullptr;
        k.w1 = p.w1.const_data_ptr<opmath_t>();
        k.w1_numel = int(p.w1.numel());
        k.w1_separable = p.w1.dim() == 1;
        k.w2 = p.w2.const_data_ptr<opmath_t>();
        k.w2_numel = int(p.w2.numel());
        k.w2_separable = p.w2.dim() == 1;
        k.ax = p.ax;
        k.ay = p.ay;
        k.s = {opmath_t(p.gain), opmath_t(p.slope), opmath_t(p.clamp)};
        k.signs = p.signs.defined() ? p.signs.mutable_data_ptr<uint8_t>() : nullptr;
        k.sign_rows = p.sign_rows;
        k.sign_cols = p.sign_cols;
        k.sign_row_bytes = flr::ceil_div(p.sign_cols, flr::kCodesPerByte);
        k.tile = tile;
        k.tiles_x = flr::ceil_div(p.ax.out, tile);
        k.mid_max_w = int(mid_span(p.ax, tile));
        k.mid_max_h = int(mid_span(p.ay, tile));
        k.in_max_w = int(input_span(p.ax, k.mid_max_w));
        k.in_max_h = int(input_span(p.ay, k.mid_max_h));

        const int64_t tiles = k.tiles_x * flr::ceil_div(p.ay.out, tile);
        TORCH_CHECK(tiles <= std::numeric_limits<int32_t>::max(),
                    "filtered_lrelu: the output has too many tiles for one launch (", tiles, ")");
        const dim3 grid(unsigned(tiles), unsigned(std::min<int64_t>(k.planes, 65535)));
        const size_t bytes = shared_bytes<opmath_t>(p, tile, codes);
        if (p.mode == Mode::kStored) {
          core_kernel<scalar_t, opmath_t, Mode::kStored, false>
              <<<grid, kThreads, bytes, stream>>>(k);
        } else if (p.clamp >= 0) {
          core_kernel<scalar_t, opmath_t, Mode::kForward, true>
              <<<grid, kThreads, bytes, stream>>>(k);
        } else {
          core_kernel<scalar_t, opmath_t, Mode::kForward, false>
              <<<grid, kThreads, bytes, stream>>>(k);
        }
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> filtered_lrelu_cuda(
    const at::Tensor& x, const at::Tensor& fu, const at::Tensor& fd,
    const std::optional<at::Tensor>& b, int64_t up, int64_t down, at::IntArrayRef padding,
    double gain, double slope, std::optional<double> clamp, bool flip_filter, bool write_signs) {
  TORCH_CHECK(x.device().is_cuda(), "filtered_lrelu_cuda: x must be a CUDA tensor, got ",
              x.device());
  const c10::cuda::CUDAGuard guard(x.device());
  const FilteredLReluPlan p = plan_filtered_lrelu(x, fu, fd, b, up, down, padding, gain, slope,
                                                  clamp, flip_filter, write_signs);
  at::Tensor y = filtered_lrelu_output(p);
  run_core_cuda(p, y);
  at::Tensor signs = p.signs.defined() ? p.signs : at::empty({0}, x.options().dtype(at::kByte));
  return {y, signs};
}

at::Tensor filtered_lrelu_stored_cuda(const at::Tensor& g, const at::Tensor& signs,
                                      const at::Tensor& fu, const at::Tensor& fd, int64_t up,
                                      int64_t down, at::IntArrayRef padding, double gain,
                                      double slope, bool flip_filter, at::IntArrayRef x_size,
                                      bool transpose) {
  TORCH_CHECK(g.device().is_cuda(), "filtered_lrelu_stored_cuda: g must be a CUDA tensor, got ",
              g.device());
  const c10::cuda::CUDAGuard guard(g.device());
  const FilteredLReluPlan p = plan_filtered_lrelu_stored(g, signs, fu, fd, up, down, padding,
                                                         gain, slope, flip_filter, x_size,
                                                         transpose);
  at::Tensor out = filtered_lrelu_output(p);
  run_core_cuda(p, out);
  return out;
}

}  // namespace fastgan
