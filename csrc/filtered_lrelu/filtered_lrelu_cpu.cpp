// CPU kernels of filtered_lrelu, and the argument checks and tap preparation shared by every
// backend.
//
// A task is one band of output columns of one channel plane. It walks down the plane once:
// each input row is upsampled along x once (kept in a small ring of rows), each mid row is
// upsampled along y, activated and kept in a ring of as many rows as the down filter has taps,
// and each output row is filtered from that ring. Every filter pass is an axpy over a row in
// "phase-split" order (the samples j = r * m + phase of a row stored as phase-major blocks), so
// polyphase filtering reads and writes contiguous memory.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/util/Exception.h>

#include "filtered_lrelu/filtered_lrelu.h"
#include "cpu_isa.h"
#include "ops.h"

namespace fastgan {

// The kernels and entry points, compiled once per instruction set (see cpu_isa.h).
FASTGAN_CPU_KERNELS_BEGIN

namespace {

using filtered_lrelu::Axis;
using filtered_lrelu::Mode;

// Output columns per band. A band's rows (about 2 * 128 mid samples for down = 2) and its two
// row rings stay within the L2 cache for StyleGAN3's filters; a multiple of kCodesPerByte so
// that bands own whole bytes of the sign tensor.
constexpr int64_t kBandOutputs = 128;
static_assert(kBandOutputs % filtered_lrelu::kCodesPerByte == 0);

// ---- argument checks and taps ----

void check_filter(const char* name, const at::Tensor& f, const at::Tensor& x) {
  TORCH_CHECK(f.device() == x.device(), "filtered_lrelu: ", name,
              " must be on the device of x (", x.device(), "), got ", f.device());
  TORCH_CHECK(at::isFloatingType(f.scalar_type()), "filtered_lrelu: ", name,
              " must be a floating-point tensor, got ", f.scalar_type());
  TORCH_CHECK((f.dim() == 1 || f.dim() == 2) && f.numel() > 0, "filtered_lrelu: ", name,
              " must be a non-empty 1-D (separable) or 2-D filter, got shape ", f.sizes());
}

void check_data(const char* name, const at::Tensor& t) {
  TORCH_CHECK(t.dim() == 4, "filtered_lrelu: ", name, " must be 4-D [N, C, H, W], got shape ",
              t.sizes());
  const auto dtype = t.scalar_type();
  TORCH_CHECK(dtype == at::kFloat || dtype == at::kDouble || dtype == at::kHalf ||
                  dtype == at::kBFloat16,
              "filtered_lrelu: ", name, " must be float32, float64, float16 or bfloat16, got ",
              dtype);
}

void check_factors(int64_t up, int64_t down, at::IntArrayRef padding) {
  TORCH_CHECK(up >= 1, "filtered_lrelu: up must be >= 1, got ", up);
  TORCH_CHECK(down >= 1, "filtered_lrelu: down must be >= 1, got ", down);
  TORCH_CHECK(padding.size() == 4, "filtered_lrelu: padding must be [px0, px1, py0, py1], got ",
              padding);
}

// Both axes of the forward core for an input of size [h, w].
std::pair<Axis, Axis> forward_axes(int64_t h, int64_t w, const at::Tensor& fu,
                                   const at::Tensor& fd, int64_t up, int64_t down,
                                   at::IntArrayRef padding) {
  const Axis ax = filtered_lrelu::forward_axis(w, up, down, padding[0], padding[1], fu.size(-1),
                                               fd.size(-1));
  const Axis ay = filtered_lrelu::forward_axis(h, up, down, padding[2], padding[3], fu.size(0),
                                               fd.size(0));
  TORCH_CHECK(ax.out > 0 && ay.out > 0,
              "filtered_lrelu: the upsampled, padded input (size * up + pad0 + pad1 = ",
              h * up + padding[2] + padding[3], " x ", w * up + padding[0] + padding[1],
              ") must be at least as large as fu and fd together (taps_up + taps_down - 1 = ",
              fu.size(0) + fd.size(0) - 1, " x ", fu.size(-1) + fd.size(-1) - 1, ")");
  return {ax, ay};
}

// Correlation taps in `dtype`: a convolution (flip_filter = false) correlates with the flipped
// filter. `gain` multiplies every tap.
at::Tensor correlation_taps(const at::Tensor& f, bool flip_filter, double gain,
                            at::ScalarType dtype) {
  at::Tensor w = f.to(dtype);
  if (!flip_filter) w = f.dim() == 1 ? w.flip({0}) : w.flip({0, 1});
  if (gain != 1.0) w = w.mul(gain);
  return w.contiguous();
}

at::ScalarType opmath_dtype(at::ScalarType dtype) {
  return dtype == at::kDouble ? at::kDouble : at::kFloat;
}

// The upsampling gain of upfirdn2d: up**2 in total, so up per pass for a separable filter.
double up_gain(const at::Tensor& fu, int64_t up) {
  return fu.dim() == 1 ? double(up) : double(up * up);
}

bool is_channels_last(const at::Tensor& t) {
  return t.is_contiguous(at::MemoryFormat::ChannelsLast) && !t.is_contiguous();
}

// ---- row helpers ----

// The two loops that take nearly all of the time (compiled per ISA, see cpu_isa.h).

// y[0..n) += w * x[0..n).
template <typename T>
void axpy(T* __restrict__ y, const T* __restrict__ x, T w, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += w * x[i];
}

// The forward act of a row: values in place, codes alongside.
template <bool Clamp, typename T>
void act_row(T* __restrict__ mid, uint8_t* __restrict__ codes, int64_t n,
             filtered_lrelu::ActScalars<T> s) {
  for (int64_t e = 0; e < n; ++e) mid[e] = filtered_lrelu::act_forward<Clamp>(mid[e], s, &codes[e]);
}

template <typename T>
void act_row(T* mid, uint8_t* codes, int64_t n, filtered_lrelu::ActScalars<T> s, bool clamp) {
  if (clamp) return act_row<true>(mid, codes, n, s);
  act_row<false>(mid, codes, n, s);
}

// Phase-split (src[phase * count + m] holds sample r * m + phase) to natural order.
template <int R, typename T>
void merge_phases_fixed(const T* __restrict__ src, T* __restrict__ dst, int64_t count) {
  for (int64_t m = 0; m < count; ++m) {
    for (int phase = 0; phase < R; ++phase) dst[R * m + phase] = src[phase * count + m];
  }
}

template <typename T>
void merge_phases(const T* src, T* dst, int64_t r, int64_t count) {
  switch (r) {
    case 1: return merge_phases_fixed<1>(src, dst, count);
    case 2: return merge_phases_fixed<2>(src, dst, count);
    case 4: return merge_phases_fixed<4>(src, dst, count);
    default:
      for (int64_t phase = 0; phase < r; ++phase) {
        for (int64_t m = 0; m < count; ++m) dst[r * m + phase] = src[phase * count + m];
      }
  }
}

// Natural order to phase-split: the inverse of merge_phases.
template <int R, typename T>
void split_phases_fixed(const T* __restrict__ src, T* __restrict__ dst, int64_t count) {
  for (int64_t m = 0; m < count; ++m) {
    for (int phase = 0; phase < R; ++phase) dst[phase * count + m] = src[R * m + phase];
  }
}

template <typename T>
void split_phases(const T* src, T* dst, int64_t r, int64_t count) {
  switch (r) {
    case 1: return split_phases_fixed<1>(src, dst, count);
    case 2: return split_phases_fixed<2>(src, dst, count);
    case 4: return split_phases_fixed<4>(src, dst, count);
    default:
      for (int64_t phase = 0; phase < r; ++phase) {
        for (int64_t m = 0; m < count; ++m) dst[phase * count + m] = src[r * m + phase];
      }
  }
}

// ---- the core on the CPU ----

// Pointers and sizes of one core, as the CPU kernel reads them.
template <typename scalar_t, typename opmath_t>
struct CpuCore {
  const scalar_t* in;               // input planes, strides in_stride
  int64_t in_stride[4];             // N, C, H, W strides of the input
  int64_t channels;                 // C
  const scalar_t* b;                // bias [C] or nullptr
  scalar_t* out;                    // output planes, strides out_stride
  int64_t out_stride[4];            // N, C, H, W strides of the output
  const opmath_t* w1;               // up taps: [taps_up] or [ay.taps_up, ax.taps_up]
  bool w1_separable;                // w1 is 1-D, used along both axes
  const opmath_t* w2;               // down taps: [taps_down] or [ay.taps_down, ax.taps_down]
  bool w2_separable;                // w2 is 1-D, used along both axes
  Axis ax, ay;                      // the core along width and height
  Mode mode;                        // forward act or stored factors
  bool clamp;                       // forward: clamp the act
  filtered_lrelu::ActScalars<opmath_t> s;  // gain, slope, clamp
  uint8_t* signs;                   // [planes, sign_rows, sign_row_bytes] or nullptr
  int64_t sign_rows, sign_cols, sign_row_bytes;
};

// Runs bands of planes; holds the scratch rows of one thread.
template <typename scalar_t, typename opmath_t>
class BandRunner {
 public:
  explicit BandRunner(const CpuCore<scalar_t, opmath_t>& k) : k_(k) {
    const Axis& ax = k.ax;
    const int64_t width = (std::min(kBandOutputs, ax.out) - 1) * ax.down + ax.taps_down;
    const int64_t mu = filtered_lrelu::ceil_div(width, ax.up);
    const int64_t md = filtered_lrelu::ceil_div(width, ax.down);
    up_len_ = ax.up * mu;
    down_len_ = ax.down * md;
    // Codes are packed up to the band's owned end (band * down), which passes the computed
    // width where down > taps_down.
    const int64_t owned = std::min(kBandOutputs, ax.out) * ax.down;
    const int64_t codes_len = std::max({up_len_, width, owned}) + 2 * filtered_lrelu::kCodesPerByte;
    x_len_ = mu + (ax.taps_up + ax.up) / ax.up + 2;
    slots_ = filtered_lrelu::ceil_div(k.ay.taps_up, k.ay.up) + 1;
    row_cache_.assign(slots_ * (k.w1_separable ? up_len_ : x_len_), opmath_t(0));
    row_tag_.assign(slots_, -1);
    x_row_.assign(x_len_, opmath_t(0));
    mid_.assign(up_len_, opmath_t(0));
    natural_.assign(std::max(up_len_, down_len_) + 1, opmath_t(0));
    codes_.assign(codes_len, 0);
    codes_natural_.assign(codes_len, 0);
    ring_.assign(k.ay.taps_down * down_len_, opmath_t(0));
    v_row_.assign(down_len_, opmath_t(0));
    acc_.assign(kBandOutputs, opmath_t(0));
    phase_.resize(ax.taps_up);
    shift_.resize(ax.taps_up);
  }

  // Output columns [ox0, ox1) of plane `plane` (= n * C + c).
  void run(int64_t plane, int64_t ox0, int64_t ox1) {
    const Axis &ax = k_.ax, &ay = k_.ay;
    const int64_t n = plane / k_.channels, c = plane % k_.channels;
    in_plane_ = k_.in + n * k_.in_stride[0] + c * k_.in_stride[1];
    out_plane_ = k_.out + n * k_.out_stride[0] + c * k_.out_stride[1];
    bias_ = k_.b != nullptr ? opmath_t(k_.b[c]) : opmath_t(0);
    sign_plane_ = k_.signs != nullptr ? k_.signs + plane * k_.sign_rows * k_.sign_row_bytes
                                      : nullptr;
    ox0_ = ox0;
    ox1_ = ox1;
    jx0_ = ox0 * ax.down;
    width_ = (ox1 - 1) * ax.down + ax.taps_down - jx0_;
    mu_ = filtered_lrelu::ceil_div(width_, ax.up);
    md_ = filtered_lrelu::ceil_div(width_, ax.down);

    // Tap t of the x upsampling reads input m + shift[t] into phase phase[t], sample m.
    for (int64_t t = 0; t < ax.taps_up; ++t) {
      phase_[t] = filtered_lrelu::positive_mod(ax.pad - jx0_ - t, ax.up);
      shift_[t] = (jx0_ + phase_[t] + t - ax.pad) / ax.up;
    }
    x_base_ = *std::min_element(shift_.begin(), shift_.end());
    std::fill(row_tag_.begin(), row_tag_.end(), -1);

    // Each output row needs mid rows [q * down, q * down + taps_down).
    int64_t next_mid = 0;
    for (int64_t q = 0; q < ay.out; ++q) {
      for (; next_mid < q * ay.down + ay.taps_down; ++next_mid) produce_mid(next_mid);
      emit_output(q);
    }
  }

 private:
  opmath_t* ring_row(int64_t jy) {
    return ring_.data() + (jy % k_.ay.taps_down) * down_len_;
  }

  // Input row iy, bias added, as x_len_ samples from input column x_base_ (zeros outside).
  void load_row(int64_t iy, opmath_t* __restrict__ dst) {
    const scalar_t* row = in_plane_ + iy * k_.in_stride[2];
    const int64_t sw = k_.in_stride[3];
    const int64_t lo = std::clamp<int64_t>(-x_base_, 0, x_len_);
    const int64_t hi = std::clamp<int64_t>(k_.ax.in - x_base_, lo, x_len_);
    std::fill(dst, dst + lo, opmath_t(0));
    for (int64_t i = lo; i < hi; ++i) dst[i] = opmath_t(row[(x_base_ + i) * sw]) + bias_;
    std::fill(dst + hi, dst + x_len_, opmath_t(0));
  }

  // dst (phase-split by ax.up) += the x upsampling of x_row with `taps` (ax.taps_up of them).
  void upsample_x(const opmath_t* x_row, const opmath_t* taps, opmath_t* dst) {
    for (int64_t t = 0; t < k_.ax.taps_up; ++t) {
      axpy(dst + phase_[t] * mu_, x_row + shift_[t] - x_base_, taps[t], mu_);
    }
  }

  // The cached row of input iy: upsampled along x (separable w1) or as loaded (2-D w1).
  const opmath_t* cached_row(int64_t iy) {
    const int64_t slot = iy % slots_;
    opmath_t* row = row_cache_.data() + slot * (k_.w1_separable ? up_len_ : x_len_);
    if (row_tag_[slot] == iy) return row;
    row_tag_[slot] = iy;
    if (k_.w1_separable) {
      load_row(iy, x_row_.data());
      std::fill(row, row + up_len_, opmath_t(0));
      upsample_x(x_row_.data(), k_.w1, row);
    } else {
      load_row(iy, row);
    }
    return row;
  }

  // Mid row jy: upsampled along y, activated, stored in the ring split by ax.down.
  void produce_mid(int64_t jy) {
    const Axis &ax = k_.ax, &ay = k_.ay;
    const bool same_split = ax.up == ax.down;
    opmath_t* mid = same_split ? ring_row(jy) : mid_.data();
    std::fill(mid, mid + up_len_, opmath_t(0));

    int64_t t0, t1, iy;
    filtered_lrelu::up_taps(ay, jy, &t0, &t1, &iy);
    for (int64_t t = t0; t < t1; t += ay.up, ++iy) {
      if (k_.w1_separable) {
        axpy(mid, cached_row(iy), k_.w1[t], up_len_);
      } else {
        upsample_x(cached_row(iy), k_.w1 + t * ax.taps_up, mid);
      }
    }

    if (k_.mode == Mode::kForward) {
      forward_act(jy, mid);
    } else {
      stored_act(jy, mid);
    }
    if (!same_split) {
      merge_phases(mid, natural_.data(), ax.up, mu_);
      split_phases(natural_.data(), ring_row(jy), ax.down, md_);
    }
  }

  void forward_act(int64_t jy, opmath_t* __restrict__ mid) {
    uint8_t* codes = codes_.data();
    act_row(mid, codes, up_len_, k_.s, k_.clamp);
    if (sign_plane_ == nullptr) return;

    // This band owns the codes of mid columns [jx0, ox1 * down), or to the end for the last.
    merge_phases(codes, codes_natural_.data(), k_.ax.up, mu_);
    const int64_t own_end = ox1_ == k_.ax.out ? k_.ax.mid : ox1_ * k_.ax.down;
    const int64_t bytes = filtered_lrelu::ceil_div(own_end - jx0_, filtered_lrelu::kCodesPerByte);
    uint8_t* __restrict__ dst = sign_plane_ + jy * k_.sign_row_bytes + jx0_ / 4;
    const uint8_t* __restrict__ src = codes_natural_.data();
    for (int64_t i = 0; i < bytes; ++i) {
      dst[i] = uint8_t(src[4 * i] | (src[4 * i + 1] << 2) | (src[4 * i + 2] << 4) |
                       (src[4 * i + 3] << 6));
    }
  }

  void stored_act(int64_t jy, opmath_t* __restrict__ mid) {
    const Axis &ax = k_.ax, &ay = k_.ay;
    const int64_t row = jy + ay.sign_offset, col0 = jx0_ + ax.sign_offset;
    uint8_t* __restrict__ codes_natural = codes_natural_.data();
    if (row < 0 || row >= k_.sign_rows) {
      std::fill(codes_natural, codes_natural + up_len_, filtered_lrelu::kClamped);
    } else {
      // Samples outside the forward's mid grid read as clamped; the rest unpack 4 per byte.
      const int64_t lo = std::clamp<int64_t>(-col0, 0, up_len_);
      const int64_t hi = std::clamp<int64_t>(k_.sign_cols - col0, lo, up_len_);
      std::fill(codes_natural, codes_natural + lo, filtered_lrelu::kClamped);
      std::fill(codes_natural + hi, codes_natural + up_len_, filtered_lrelu::kClamped);
      const uint8_t* __restrict__ bytes = sign_plane_ + row * k_.sign_row_bytes;
      for (int64_t r = lo; r < hi; ++r) {
        const int64_t col = col0 + r;
        codes_natural[r] = uint8_t((bytes[col >> 2] >> (2 * (col & 3))) & 3);
      }
    }
    split_phases(codes_natural_.data(), codes_.data(), ax.up, mu_);
    const uint8_t* __restrict__ codes = codes_.data();
    const auto s = k_.s;
    for (int64_t e = 0; e < up_len_; ++e) mid[e] *= filtered_lrelu::code_factor(codes[e], s);
  }

  // Output row q of the band from the mid ring.
  void emit_output(int64_t q) {
    const Axis &ax = k_.ax, &ay = k_.ay;
    const int64_t count = ox1_ - ox0_;
    opmath_t* acc = acc_.data();
    std::fill(acc, acc + count, opmath_t(0));

    // Output column ox, tap t reads mid column ox * down + t: phase t % down, index ox + t / down.
    if (k_.w2_separable) {
      opmath_t* v = v_row_.data();
      std::fill(v, v + down_len_, opmath_t(0));
      for (int64_t t = 0; t < ay.taps_down; ++t) {
        axpy(v, ring_row(q * ay.down + t), k_.w2[t], down_len_);
      }
      for (int64_t t = 0; t < ax.taps_down; ++t) {
        axpy(acc, v + (t % ax.down) * md_ + t / ax.down, k_.w2[t], count);
      }
    } else {
      for (int64_t ty = 0; ty < ay.taps_down; ++ty) {
        const opmath_t* row = ring_row(q * ay.down + ty);
        const opmath_t* taps = k_.w2 + ty * ax.taps_down;
        for (int64_t t = 0; t < ax.taps_down; ++t) {
          axpy(acc, row + (t % ax.down) * md_ + t / ax.down, taps[t], count);
        }
      }
    }

    scalar_t* dst = out_plane_ + q * k_.out_stride[2] + ox0_ * k_.out_stride[3];
    const int64_t sw = k_.out_stride[3];
    for (int64_t i = 0; i < count; ++i) dst[i * sw] = scalar_t(acc[i]);
  }

  const CpuCore<scalar_t, opmath_t>& k_;
  int64_t up_len_ = 0, down_len_ = 0, x_len_ = 0, slots_ = 0;
  std::vector<opmath_t> row_cache_, x_row_, mid_, natural_, ring_, v_row_, acc_;
  std::vector<uint8_t> codes_, codes_natural_;
  std::vector<int64_t> row_tag_, phase_, shift_;
  // The band being run.
  const scalar_t* in_plane_ = nullptr;
  scalar_t* out_plane_ = nullptr;
  uint8_t* sign_plane_ = nullptr;
  opmath_t bias_ = 0;
  int64_t ox0_ = 0, ox1_ = 0, jx0_ = 0, width_ = 0, mu_ = 0, md_ = 0, x_base_ = 0;
};

void run_core_cpu(const FilteredLReluPlan& p, at::Tensor& out) {
  if (out.numel() == 0) return;
  const int64_t planes = out.size(0) * out.size(1);
  const int64_t bands = filtered_lrelu::ceil_div(p.ax.out, kBandOutputs);

  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, p.in.scalar_type(), "filtered_lrelu_cpu", [&] {
        using opmath_t = at::opmath_type<scalar_t>;
        CpuCore<scalar_t, opmath_t> k;
        k.in = p.in.const_data_ptr<scalar_t>();
        k.out = out.mutable_data_ptr<scalar_t>();
        for (int d = 0; d < 4; ++d) {
          k.in_stride[d] = p.in.stride(d);
          k.out_stride[d] = out.stride(d);
        }
        k.channels = out.size(1);
        k.b = p.b.defined() ? p.b.const_data_ptr<scalar_t>() : nullptr;
        k.w1 = p.w1.const_data_ptr<opmath_t>();
        k.w1_separable = p.w1.dim() == 1;
        k.w2 = p.w2.const_data_ptr<opmath_t>();
        k.w2_separable = p.w2.dim() == 1;
        k.ax = p.ax;
        k.ay = p.ay;
        k.mode = p.mode;
        k.clamp = p.clamp >= 0;
        k.s = {opmath_t(p.gain), opmath_t(p.slope), opmath_t(p.clamp)};
        k.signs = p.signs.defined() ? p.signs.mutable_data_ptr<uint8_t>() : nullptr;
        k.sign_rows = p.sign_rows;
        k.sign_cols = p.sign_cols;
        k.sign_row_bytes = filtered_lrelu::ceil_div(p.sign_cols, filtered_lrelu::kCodesPerByte);

        at::parallel_for(0, planes * bands, 1, [&](int64_t begin, int64_t end) {
          BandRunner<scalar_t, opmath_t> runner(k);
          for (int64_t task = begin; task < end; ++task) {
            const int64_t band = task % bands;
            const int64_t ox0 = band * kBandOutputs;
            runner.run(task / bands, ox0, std::min(ox0 + kBandOutputs, p.ax.out));
          }
        });
      });
}

}  // namespace

template <>
std::tuple<at::Tensor, at::Tensor> filtered_lrelu_cpu<FASTGAN_CPU_ISA>(
    const at::Tensor& x, const at::Tensor& fu, const at::Tensor& fd,
    const std::optional<at::Tensor>& b, int64_t up, int64_t down, at::IntArrayRef padding,
    double gain, double slope, std::optional<double> clamp, bool flip_filter, bool write_signs) {
  TORCH_CHECK(x.device().is_cpu(), "filtered_lrelu_cpu: x must be a CPU tensor, got ", x.device());
  const FilteredLReluPlan p = plan_filtered_lrelu(x, fu, fd, b, up, down, padding, gain, slope,
                                                  clamp, flip_filter, write_signs);
  at::Tensor y = filtered_lrelu_output(p);
  run_core_cpu(p, y);
  at::Tensor signs = p.signs.defined() ? p.signs : at::empty({0}, x.options().dtype(at::kByte));
  return {y, signs};
}

template <>
at::Tensor filtered_lrelu_stored_cpu<FASTGAN_CPU_ISA>(
    const at::Tensor& g, const at::Tensor& signs, const at::Tensor& fu, const at::Tensor& fd,
    int64_t up, int64_t down, at::IntArrayRef padding, double gain, double slope, bool flip_filter,
    at::IntArrayRef x_size, bool transpose) {
  TORCH_CHECK(g.device().is_cpu(), "filtered_lrelu_stored_cpu: g must be a CPU tensor, got ",
              g.device());
  const FilteredLReluPlan p = plan_filtered_lrelu_stored(g, signs, fu, fd, up, down, padding,
                                                         gain, slope, flip_filter, x_size,
                                                         transpose);
  at::Tensor out = filtered_lrelu_output(p);
  run_core_cpu(p, out);
  return out;
}

FASTGAN_CPU_KERNELS_END

// Argument checks shared with the CUDA kernels: compiled once, in the baseline build.
#if FASTGAN_CPU_SHARED

FilteredLReluPlan plan_filtered_lrelu(const at::Tensor& x, const at::Tensor& fu,
                                      const at::Tensor& fd, const std::optional<at::Tensor>& b,
                                      int64_t up, int64_t down, at::IntArrayRef padding,
                                      double gain, double slope, std::optional<double> clamp,
                                      bool flip_filter, bool write_signs) {
  // Devices, then dtypes and shapes, then values.
  check_filter("fu", fu, x);
  check_filter("fd", fd, x);
  const bool has_b = b.has_value() && b->defined();
  if (has_b) {
    TORCH_CHECK(b->device() == x.device(), "filtered_lrelu: b must be on the device of x (",
                x.device(), "), got ", b->device());
  }
  check_data("x", x);
  if (has_b) {
    TORCH_CHECK(b->scalar_type() == x.scalar_type(), "filtered_lrelu: b must have the dtype of x (",
                x.scalar_type(), "), got ", b->scalar_type());
    TORCH_CHECK(b->dim() == 1 && b->size(0) == x.size(1),
                "filtered_lrelu: b must be 1-D of length x.shape[1] = ", x.size(1),
                ", got shape ", b->sizes());
  }
  check_factors(up, down, padding);
  TORCH_CHECK(!clamp.has_value() || *clamp >= 0,
              "filtered_lrelu: clamp must be None or >= 0, got ", clamp.value_or(0));

  FilteredLReluPlan p;
  std::tie(p.ax, p.ay) = forward_axes(x.size(2), x.size(3), fu, fd, up, down, padding);
  p.in = x;
  if (has_b) p.b = b->contiguous();
  const auto dtype = opmath_dtype(x.scalar_type());
  p.w1 = correlation_taps(fu, flip_filter, up_gain(fu, up), dtype);
  p.w2 = correlation_taps(fd, flip_filter, 1.0, dtype);
  p.mode = filtered_lrelu::Mode::kForward;
  p.gain = gain;
  p.slope = slope;
  p.clamp = clamp.has_value() ? *clamp : -1.0;
  p.sign_rows = p.ay.mid;
  p.sign_cols = p.ax.mid;
  if (write_signs) {
    p.signs = at::empty({x.size(0), x.size(1), p.sign_rows,
                         filtered_lrelu::ceil_div(p.sign_cols, filtered_lrelu::kCodesPerByte)},
                        x.options().dtype(at::kByte).memory_format(at::MemoryFormat::Contiguous));
  }
  p.channels_last = is_channels_last(x);
  return p;
}

FilteredLReluPlan plan_filtered_lrelu_stored(const at::Tensor& g, const at::Tensor& signs,
                                             const at::Tensor& fu, const at::Tensor& fd,
                                             int64_t up, int64_t down, at::IntArrayRef padding,
                                             double gain, double slope, bool flip_filter,
                                             at::IntArrayRef x_size, bool transpose) {
  check_filter("fu", fu, g);
  check_filter("fd", fd, g);
  TORCH_CHECK(signs.device() == g.device(), "filtered_lrelu: signs must be on the device of g (",
              g.device(), "), got ", signs.device());
  check_data("g", g);
  check_factors(up, down, padding);
  TORCH_CHECK(x_size.size() == 2, "filtered_lrelu: x_size must be [H, W], got ", x_size);

  FilteredLReluPlan p;
  Axis fax, fay;
  std::tie(fax, fay) = forward_axes(x_size[0], x_size[1], fu, fd, up, down, padding);
  const int64_t row_bytes = filtered_lrelu::ceil_div(fax.mid, filtered_lrelu::kCodesPerByte);
  TORCH_CHECK(signs.scalar_type() == at::kByte && signs.dim() == 4 && signs.is_contiguous() &&
                  signs.size(0) == g.size(0) && signs.size(1) == g.size(1) &&
                  signs.size(2) == fay.mid && signs.size(3) == row_bytes,
              "filtered_lrelu: signs must be a contiguous uint8 tensor of shape [", g.size(0),
              ", ", g.size(1), ", ", fay.mid, ", ", row_bytes, "], got ", signs.scalar_type(),
              " of shape ", signs.sizes());
  const int64_t gh = transpose ? fay.out : fay.in, gw = transpose ? fax.out : fax.in;
  TORCH_CHECK(g.size(2) == gh && g.size(3) == gw, "filtered_lrelu: g must be [N, C, ", gh, ", ",
              gw, "] (", transpose ? "the forward's output" : "the forward's input",
              " size), got shape ", g.sizes());

  const auto dtype = opmath_dtype(g.scalar_type());
  p.in = g;
  if (transpose) {
    // The gradient: correlate with the reversed down taps, then the reversed up taps.
    p.ax = filtered_lrelu::transposed_axis(fax);
    p.ay = filtered_lrelu::transposed_axis(fay);
    p.w1 = correlation_taps(fd, !flip_filter, 1.0, dtype);
    p.w2 = correlation_taps(fu, !flip_filter, up_gain(fu, up), dtype);
  } else {
    p.ax = fax;
    p.ay = fay;
    p.w1 = correlation_taps(fu, flip_filter, up_gain(fu, up), dtype);
    p.w2 = correlation_taps(fd, flip_filter, 1.0, dtype);
  }
  p.mode = filtered_lrelu::Mode::kStored;
  p.gain = gain;
  p.slope = slope;
  p.signs = signs;
  p.sign_rows = fay.mid;
  p.sign_cols = fax.mid;
  p.channels_last = is_channels_last(g);
  return p;
}

at::Tensor filtered_lrelu_output(const FilteredLReluPlan& p) {
  const auto format = p.channels_last ? at::MemoryFormat::ChannelsLast
                                      : at::MemoryFormat::Contiguous;
  return at::empty({p.in.size(0), p.in.size(1), p.ay.out, p.ax.out},
                   p.in.options().memory_format(format));
}

#endif  // FASTGAN_CPU_SHARED

}  // namespace fastgan
