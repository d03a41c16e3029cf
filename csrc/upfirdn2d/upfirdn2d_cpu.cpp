// CPU kernel of upfirdn2d, and the argument checks shared by every backend.
//
// Work is split into tasks of (image plane, block of output rows), run in parallel. Within a
// task a 2-D filter is applied row by row: every output row is a sum, over the filter rows that
// reach an input row, of a 1-D resampling of that input row. A separable filter runs as two 1-D
// passes: along x first, unless the y pass reduces the rows (then y first, so that x sees fewer
// rows). Every inner loop is a contiguous multiply-add over a row (polyphase: each output phase
// reads consecutive inputs), so the compiler vectorizes it.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <type_traits>
#include <utility>
#include <vector>

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/util/Exception.h>

#if defined(__x86_64__) && __has_include(<fbgemm/Utils.h>)
#include <fbgemm/Utils.h>
#define FASTGAN_HAS_FBGEMM 1
#else
#define FASTGAN_HAS_FBGEMM 0
#endif

#include "cpu_isa.h"
#include "ops.h"
#include "upfirdn2d/upfirdn2d.h"

namespace fastgan {

// The kernels and entry points, compiled once per instruction set (see cpu_isa.h).
FASTGAN_CPU_KERNELS_BEGIN

namespace {

using upfirdn2d::Axis;

// Tasks per thread: enough that uneven tasks still balance.
constexpr int64_t kTasksPerThread = 4;
// Output rows per task when image planes alone do not give enough tasks: a separable filter
// recomputes (taps / up) rows of its first pass at each block border, so blocks stay long.
constexpr int64_t kMinBlockRows = 32;

// acc[i] (=, or += when Accumulate) sum_{t < N} c[t] * rows[t][i], for i < n.
template <int N, bool Accumulate, typename S, typename T>
void combine(const S* const* rows, const T* c, int64_t n, T* __restrict__ acc) {
  const S* r[N];
  T k[N];
  for (int t = 0; t < N; ++t) r[t] = rows[t], k[t] = c[t];
  for (int64_t i = 0; i < n; ++i) {
    T v = Accumulate ? acc[i] : T(0);
    for (int t = 0; t < N; ++t) v += k[t] * T(r[t][i]);
    acc[i] = v;
  }
}

// acc[0..n) = sum_{t < count} c[t] * rows[t][0..n): four rows at a time, so that each output
// element is loaded and stored once per four rows.
template <typename S, typename T>
void combine_rows(const S* const* rows, const T* c, int64_t count, int64_t n, T* acc) {
  if (count == 0) {
    std::fill(acc, acc + n, T(0));
    return;
  }
  int64_t t = 0;
  for (; t + 4 <= count; t += 4) {
    t == 0 ? combine<4, false>(rows, c, n, acc) : combine<4, true>(rows + t, c + t, n, acc);
  }
  const int64_t rest = count - t;
  const bool first = t == 0;
  if (rest == 1) first ? combine<1, false>(rows + t, c + t, n, acc)
                       : combine<1, true>(rows + t, c + t, n, acc);
  if (rest == 2) first ? combine<2, false>(rows + t, c + t, n, acc)
                       : combine<2, true>(rows + t, c + t, n, acc);
  if (rest == 3) first ? combine<3, false>(rows + t, c + t, n, acc)
                       : combine<3, true>(rows + t, c + t, n, acc);
}

// The 1-D resampling of rows along x for one call's geometry (see upfirdn2d.h):
//   out[o] = sum_r sum_j fc_r[j] * z_r[o * down - pad0 + j],  0 <= o < a.out,
// summed over one or more input rows r, each with its own coefficients fc_r (the filter rows of
// a 2-D filter). A row is first loaded as xb[k] = u[first() + k], 0 <= k < len(), zero where
// the index falls outside [0, in), so that no loop checks bounds.
//
// Every output phase (the outputs o = ph + up * m for one ph) reads consecutive inputs of each
// row with fixed coefficients: it is a sum of shifted rows, which combine_rows() computes four
// terms at a time. Decimation reads every down-th input; prepare() splits a row into its down
// phases first, so those reads are consecutive too.
template <typename T>
class RowFir {
 public:
  explicit RowFir(const Axis& a) : a_(a) {
    first_ = upfirdn2d::first_input(a);
    len_ = std::max<int64_t>(upfirdn2d::last_input(a) - first_ + 1, 0);
    lq_ = (len_ + a.down - 1) / a.down;
    split_ = a.up == 1 && a.down > 1;
    phases_ = a.down == 1 ? std::min(a.up, a.out) : 1;
    phase_len_ = (a.out + a.up - 1) / a.up;
    taps_per_phase_ = a.down == 1 ? (a.taps + a.up - 1) / a.up : a.taps;
  }

  int64_t first() const { return first_; }
  int64_t len() const { return len_; }
  // Elements of one row buffer: the loaded row, then its decimation phases.
  int64_t row_size() const { return len_ + (split_ ? lq_ * a_.down : 0); }
  // Elements of the phase buffer apply() uses.
  int64_t phase_size() const { return a_.up > 1 ? phases_ * phase_len_ : 0; }
  // Terms of the largest sum apply() forms for one output phase, per input row.
  int64_t terms_per_row() const { return taps_per_phase_; }

  // row[0..len) from the input row u[0..in), zeros outside.
  template <typename S>
  void load(const S* __restrict__ u, T* __restrict__ row) const {
    const int64_t lead = interior_begin(), stop = interior_end();
    std::fill(row, row + lead, T(0));
    const S* src = u + (first_ + lead);
    for (int64_t k = lead; k < stop; ++k) row[k] = T(src[k - lead]);
    std::fill(row + stop, row + len_, T(0));
  }

  // The part of row[0..len) that holds u[0..in); the rest are zero margins.
  int64_t interior_begin() const { return std::clamp<int64_t>(-first_, 0, len_); }
  int64_t interior_end() const {
    return std::clamp<int64_t>(a_.in - first_, interior_begin(), len_);
  }

  // Makes a loaded row ready for apply(): returns what apply() reads.
  const T* prepare(T* row) const {
    if (!split_) return row;
    // phase r of the row: split[r * lq + q] = row[q * down + r]
    T* split = row + len_;
    const int64_t down = a_.down;
    if (down == 2) {
      // The common case with a constant stride, which the compiler vectorizes with shuffles.
      T* __restrict__ even = split;
      T* __restrict__ odd = split + lq_;
      const int64_t pairs = len_ / 2;
      for (int64_t q = 0; q < pairs; ++q) {
        even[q] = row[2 * q];
        odd[q] = row[2 * q + 1];
      }
      if (len_ % 2) even[pairs] = row[len_ - 1], odd[pairs] = T(0);
      return split;
    }
    for (int64_t r = 0; r < down; ++r) {
      T* phase = split + r * lq_;
      const int64_t n = (len_ - r + down - 1) / down;
      for (int64_t q = 0; q < n; ++q) phase[q] = row[q * down + r];
      std::fill(phase + n, phase + lq_, T(0));
    }
    return split;
  }

  // out[0..a.out) = the sum over rows r < n_rows of prepared row src[r] filtered with fc[r]
  // (a.taps coefficients in correlation order). ptrs and coefs hold n_rows * terms_per_row().
  void apply(const T* const* src, const T* const* fc, int64_t n_rows, T* __restrict__ out,
             T* __restrict__ phase, const T** ptrs, T* coefs) const {
    const int64_t up = a_.up, down = a_.down;
    if (len_ == 0) n_rows = 0;

    // Both factors above 1 (rare): one output at a time.
    if (up > 1 && down > 1) {
      for (int64_t o = 0; o < a_.out; ++o) {
        const upfirdn2d::TapStart s = upfirdn2d::tap_start(a_, o);
        const int64_t taps = upfirdn2d::tap_count(a_, s.j0);
        T v = T(0);
        for (int64_t r = 0; r < n_rows; ++r) {
          const T* x = src[r] + (s.i0 - first_);
          for (int64_t t = 0; t < taps; ++t) v += fc[r][s.j0 + up * t] * x[t];
        }
        out[o] = v;
      }
      return;
    }

    // No interpolation: tap j of output o reads row[o * down + j] (first_ = -pad0), which is
    // phase j % down at q = o + j / down of a split row.
    if (up == 1) {
      int64_t n = 0;
      for (int64_t r = 0; r < n_rows; ++r) {
        for (int64_t j = 0; j < a_.taps; ++j, ++n) {
          ptrs[n] = src[r] + (j % down) * lq_ + j / down;
          coefs[n] = fc[r][j];
        }
      }
      combine_rows(ptrs, coefs, n, a_.out, out);
      return;
    }

    // Interpolation: output phase ph uses the taps j0 + up * t, reading consecutive inputs.
    for (int64_t ph = 0; ph < phases_; ++ph) {
      const upfirdn2d::TapStart s = upfirdn2d::tap_start(a_, ph);
      const int64_t taps = upfirdn2d::tap_count(a_, s.j0);
      int64_t n = 0;
      for (int64_t r = 0; r < n_rows; ++r) {
        for (int64_t t = 0; t < taps; ++t, ++n) {
          ptrs[n] = src[r] + (s.i0 - first_) + t;
          coefs[n] = fc[r][s.j0 + up * t];
        }
      }
      combine_rows(ptrs, coefs, n, (a_.out - ph + up - 1) / up, phase + ph * phase_len_);
    }
    interleave(phase, out);
  }

 private:
  // out[ph + up * m] = phase[ph * phase_len + m].
  void interleave(const T* __restrict__ phase, T* __restrict__ out) const {
    const int64_t up = a_.up, n_out = a_.out;
    if (up == 2) {
      const T* p0 = phase;
      const T* p1 = phase + phase_len_;
      const int64_t pairs = n_out / 2;
      for (int64_t m = 0; m < pairs; ++m) {
        out[2 * m] = p0[m];
        out[2 * m + 1] = p1[m];
      }
      if (n_out % 2) out[n_out - 1] = p0[pairs];
      return;
    }
    for (int64_t ph = 0; ph < phases_; ++ph) {
      const T* p = phase + ph * phase_len_;
      const int64_t n = (n_out - ph + up - 1) / up;
      for (int64_t m = 0; m < n; ++m) out[ph + up * m] = p[m];
    }
  }

  Axis a_;
  int64_t first_ = 0;           // input index of row[0]
  int64_t len_ = 0;             // inputs that some output reads, margins included
  int64_t lq_ = 0;              // length of one decimation phase of a row
  bool split_ = false;          // rows are split into decimation phases (up == 1, down > 1)
  int64_t phases_ = 1;          // output phases computed separately
  int64_t phase_len_ = 0;       // outputs per output phase, at most
  int64_t taps_per_phase_ = 0;  // taps of one output phase, at most
};

// Loaded and prepared input rows of one image plane, kept while the output rows that need
// them are computed: consecutive output rows share most of their input rows.
template <typename T>
class RowCache {
 public:
  RowCache(const RowFir<T>& fir, int64_t slots)
      : fir_(fir), size_(fir.row_size()), data_(slots * size_), rows_(slots, -1),
        src_(slots, nullptr) {}

  void reset() { std::fill(rows_.begin(), rows_.end(), -1); }

  // Input row iy of the plane, prepared. Holds the last `slots` distinct rows asked for,
  // which covers every filter window when slots >= the taps of one output row.
  template <typename S>
  const T* get(const S* plane, int64_t width, int64_t iy) {
    const size_t slot = static_cast<size_t>(iy % static_cast<int64_t>(rows_.size()));
    if (rows_[slot] != iy) {
      T* row = data_.data() + slot * size_;
      fir_.load(plane + iy * width, row);
      src_[slot] = fir_.prepare(row);
      rows_[slot] = iy;
    }
    return src_[slot];
  }

 private:
  const RowFir<T>& fir_;
  int64_t size_;
  std::vector<T> data_;
  std::vector<int64_t> rows_;
  std::vector<const T*> src_;
};

// The input rows (and the coefficients applied to them) that make output row o along y.
template <typename T>
int64_t column_taps(const Axis& a, int64_t o, const T* fc, int64_t* rows, T* coefs) {
  const upfirdn2d::TapStart s = upfirdn2d::tap_start(a, o);
  const int64_t taps = upfirdn2d::tap_count(a, s.j0);
  int64_t count = 0;
  for (int64_t t = 0; t < taps; ++t) {
    const int64_t i = s.i0 + t;
    if (i < 0 || i >= a.in) continue;
    rows[count] = i;
    coefs[count] = fc[s.j0 + a.up * t];
    ++count;
  }
  return count;
}

// The filter along y and along x: a separable filter [ft] twice, or the two factors of a 2-D
// filter [fh, fw] that is their outer product to double precision (setup_filter makes such
// filters from 1-D taps); then the filter runs as two 1-D passes, fh + fw multiply-adds per
// output instead of fh * fw. The factors share the scale evenly (sqrt of the largest tap), so
// that setup_filter([1, 3, 3, 1]) factors exactly into [1, 3, 3, 1] / 8 twice. Empty vectors
// when the 2-D filter has a higher rank.
std::pair<std::vector<double>, std::vector<double>> filter_factors(const at::Tensor& f) {
  const at::Tensor fd = f.to(at::kDouble).contiguous();
  const double* v = fd.const_data_ptr<double>();
  if (f.dim() == 1) {
    std::vector<double> taps(v, v + f.numel());
    return {taps, taps};
  }
  const int64_t fh = f.size(0), fw = f.size(1);
  int64_t pivot = 0;
  for (int64_t i = 1; i < fh * fw; ++i) pivot = std::abs(v[i]) > std::abs(v[pivot]) ? i : pivot;
  const double peak = std::abs(v[pivot]);
  if (peak == 0) return {};
  const int64_t i0 = pivot / fw, j0 = pivot % fw;
  const double root = std::sqrt(peak);
  std::vector<double> fy(fh), fx(fw);
  for (int64_t i = 0; i < fh; ++i) fy[i] = v[i * fw + j0] / root;
  for (int64_t j = 0; j < fw; ++j) fx[j] = v[i0 * fw + j] / (v[pivot] / root);
  for (int64_t i = 0; i < fh; ++i) {
    for (int64_t j = 0; j < fw; ++j) {
      if (std::abs(fy[i] * fx[j] - v[i * fw + j]) > 16 * DBL_EPSILON * peak) return {};
    }
  }
  return {fy, fx};
}

// Coefficients in correlation order (flipped unless flip_filter), times `scale`: of a 1-D
// filter, or of a 2-D filter [fh, fw] stored row-major (flipping every axis reverses it).
template <typename T>
std::vector<T> correlation_taps(const double* f, int64_t n, bool flip, double scale) {
  std::vector<T> fc(n);
  for (int64_t i = 0; i < n; ++i) fc[i] = T((flip ? f[i] : f[n - 1 - i]) * scale);
  return fc;
}

// The image planes of a 4-D tensor [N, C, H, W] in any memory layout: plane q is sample q / C,
// channel q % C; element (y, x) of a plane is at plane(q) + y * row + x * col.
template <typename P>
struct Planes {
  P* data = nullptr;
  int64_t channels = 1;
  int64_t stride_n = 0, stride_c = 0, row = 0, col = 1;

  Planes() = default;
  Planes(P* d, const at::Tensor& t)
      : data(d), channels(t.size(1)), stride_n(t.stride(0)), stride_c(t.stride(1)),
        row(t.stride(2)), col(t.stride(3)) {}
  P* plane(int64_t q) const { return data + (q / channels) * stride_n + (q % channels) * stride_c; }
};

// What upfirdn2d_scale and its gradient do with each filtered row u (row oy of plane q) before
// it is stored: dot[q] += sum of u * dot_with[q, oy, :], then u = u * s[q] + noise[q, oy, :].
// The default does nothing (plain upfirdn2d).
template <typename scalar_t>
struct Epilogue {
  const scalar_t* s = nullptr;   // [planes] scale of each plane; null: none
  Planes<const scalar_t> noise;  // added after the scale, read in place; data null: none
  at::Tensor dot_with;           // [N, C, out_h, out_w], NCHW or channels-last; undefined: no dot
  scalar_t* dot = nullptr;       // [planes]
};

// sum of a[i] * b[i], i < n, in independent lanes so that the compiler vectorizes it.
template <typename T, typename S>
T dot_row(const T* __restrict__ a, const S* __restrict__ b, int64_t n) {
  constexpr int kLanes = 16;
  T lanes[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int k = 0; k < kLanes; ++k) lanes[k] += a[i + k] * T(b[i + k]);
  }
  T sum = 0;
  for (; i < n; ++i) sum += a[i] * T(b[i]);
  for (int k = 0; k < kLanes; ++k) sum += lanes[k];
  return sum;
}

// Channels-last tensors (x, y or dot_with) are worked a group of channels of one sample at a
// time: the group's planes are transposed into NCHW scratch, reading whole cache lines
// (kGroupBytes of consecutive channels per pixel), filtered there, and the output group is
// transposed back. Reading the planes of a channels-last tensor one by one instead strides
// C elements per pixel: on 16x256x65x65 float32 that took the filter pass from 46 to 84 ms.
// Planes of more than kMaxGroupPlane elements go through whole NCHW copies instead.
constexpr int64_t kGroupBytes = 256;
constexpr int64_t kMaxGroupPlane = 128 * 128;

// dst[j * ld_dst + i] = src[i * ld_src + j] for i < m, j < n: fbgemm's SIMD transpose (part of
// torch's CPU library) for 4- and 2-byte elements, else in blocks of 16 x 16.
template <typename S>
void transpose(int64_t m, int64_t n, const S* __restrict__ src, int64_t ld_src,
               S* __restrict__ dst, int64_t ld_dst) {
  if (m == 0 || n == 0) return;
#if FASTGAN_HAS_FBGEMM
  if constexpr (sizeof(S) == 4) {
    return fbgemm::transpose_simd<float>(m, n, reinterpret_cast<const float*>(src), ld_src,
                                         reinterpret_cast<float*>(dst), ld_dst);
  } else if constexpr (sizeof(S) == 2) {
    return fbgemm::transpose_simd<uint16_t>(m, n, reinterpret_cast<const uint16_t*>(src),
                                            ld_src, reinterpret_cast<uint16_t*>(dst), ld_dst);
  }
#endif
  constexpr int64_t kBlock = 16;
  for (int64_t i0 = 0; i0 < m; i0 += kBlock) {
    const int64_t i1 = std::min(i0 + kBlock, m);
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t i = i0; i < i1; ++i) dst[j * ld_dst + i] = src[i * ld_src + j];
    }
  }
}

// Whether t [N, C, H, W] is stored channels-last (else NCHW; nothing else reaches the kernel).
bool stored_channels_last(const at::Tensor& t) {
  if (t.is_contiguous()) return false;
  TORCH_INTERNAL_ASSERT(t.is_contiguous(at::MemoryFormat::ChannelsLast),
                        "upfirdn2d_cpu: expected an NCHW or channels-last tensor, got strides ",
                        t.strides());
  return true;
}

template <typename scalar_t>
void upfirdn2d_cpu_impl(const Upfirdn2dPlan& p, at::Tensor& y,
                        const Epilogue<scalar_t>& ep = {}) {
  using T = at::opmath_type<scalar_t>;
  const Axis ax = p.ax, ay = p.ay;
  const int64_t channels = p.x.size(1), planes = p.x.size(0) * channels;
  const int64_t in_plane = ay.in * ax.in, out_plane = ay.out * ax.out;
  const RowFir<T> fir(ax);
  const bool has_dot = ep.dot_with.defined();

  // Layouts: NCHW planes are read and written in place; channels-last ones by groups.
  const bool x_cl = stored_channels_last(p.x), y_cl = stored_channels_last(y);
  const bool d_cl = has_dot && stored_channels_last(ep.dot_with);
  const bool grouped = (x_cl || y_cl || d_cl) && std::max(in_plane, out_plane) <= kMaxGroupPlane;
  const at::Tensor xk = x_cl && !grouped ? p.x.contiguous() : p.x;
  const at::Tensor dk = d_cl && !grouped ? ep.dot_with.contiguous() : ep.dot_with;
  at::Tensor yk = y_cl && !grouped ? at::empty(y.sizes(), y.options().memory_format(
                                                               at::MemoryFormat::Contiguous))
                                   : y;
  const scalar_t* xp = xk.const_data_ptr<scalar_t>();
  const scalar_t* dp = has_dot ? dk.const_data_ptr<scalar_t>() : nullptr;
  scalar_t* yp = yk.mutable_data_ptr<scalar_t>();
  const int64_t group = std::max<int64_t>(kGroupBytes / int64_t(sizeof(scalar_t)), 1);
  const int64_t groups_per_sample = (channels + group - 1) / group;

  // Separable filters run the pass that yields fewer rows for the other pass first: x first
  // when the output has at least as many rows as the input (the x pass then sees the input rows).
  // The gain is folded into the coefficients of the last pass.
  const auto [fy, fx] = filter_factors(p.f);
  const bool separable = !fx.empty();
  const bool x_first = !separable || ay.out >= ay.in;
  std::vector<T> fcx_taps, fcy_taps;
  if (separable) {
    fcx_taps = correlation_taps<T>(fx.data(), ax.taps, p.flip_filter, x_first ? 1.0 : p.gain);
    fcy_taps = correlation_taps<T>(fy.data(), ay.taps, p.flip_filter, x_first ? p.gain : 1.0);
  } else {
    const at::Tensor fd = p.f.to(at::kDouble).contiguous();
    fcx_taps = correlation_taps<T>(fd.const_data_ptr<double>(), fd.numel(), p.flip_filter,
                                   p.gain);
  }
  const T* fcx = fcx_taps.data();
  const T* fcy = separable ? fcy_taps.data() : fcx;

  // Tasks: (plane, block of output rows), or one group of whole planes each.
  const int64_t want = kTasksPerThread * at::get_num_threads();
  int64_t rows_per_block = ay.out;
  if (!grouped && planes < want && !has_dot) {  // (a plane's dot is summed by one task)
    const int64_t blocks = (want + planes - 1) / planes;
    rows_per_block = std::max((ay.out + blocks - 1) / blocks, std::min(kMinBlockRows, ay.out));
  }
  const int64_t blocks = (ay.out + rows_per_block - 1) / rows_per_block;
  const int64_t tasks = grouped ? p.x.size(0) * groups_per_sample : planes * blocks;

  // Most input rows one output row reads (filter rows that reach it).
  const int64_t window = (ay.taps + ay.up - 1) / ay.up;

  // A separable filter without resampling, on whole planes, with padding (not cropping): each
  // pass is one long sum over the zero-padded plane flattened, rows wp apart (the columns past
  // each row's end are computed and dropped). Small planes would otherwise spend most of their
  // time setting up rows (32x32x32x32 padded by 2, one thread: 1.7-2.7 ms row by row, 0.7 ms
  // this way; benchmarks/RESULTS.md).
  const int64_t wp = ax.out + ax.taps - 1, hp = ay.out + ay.taps - 1;  // padded plane
  const bool whole_plane = separable && blocks == 1 && ax.up == 1 && ax.down == 1 &&
                           ay.up == 1 && ay.down == 1 && ax.pad0 >= 0 && ay.pad0 >= 0 &&
                           wp >= ax.pad0 + ax.in && hp >= ay.pad0 + ay.in;

  at::parallel_for(0, tasks, 1, [&](int64_t task0, int64_t task1) {
    // Per-thread scratch.
    RowCache<T> cache(fir, separable ? 1 : window);
    std::vector<T> phase(fir.phase_size()), acc(ax.out), own_row(fir.row_size());
    std::vector<const T*> term_ptrs(window * fir.terms_per_row() + 1);
    std::vector<T> term_coefs(term_ptrs.size());
    std::vector<int64_t> rows(ay.taps);
    std::vector<T> coefs(ay.taps);
    std::vector<const T*> srcs(ay.taps), fcs(ay.taps);
    std::vector<const scalar_t*> in_ptrs(ay.taps);
    std::vector<T> mid;  // first-pass rows of a separable filter
    // Whole-plane buffers: the padded plane, its y pass (plus a zero tail the x pass reads
    // past the last row), its x pass.
    std::vector<T> padded(whole_plane ? hp * wp : 0);
    std::vector<T> ypass(whole_plane ? ay.out * wp + ax.taps : 0);
    std::vector<T> xpass(whole_plane ? ay.out * wp : 0);
    std::vector<const T*> shifted(whole_plane ? std::max(ax.taps, ay.taps) : 0);
    // A group's channels-last planes as NCHW planes.
    std::vector<scalar_t> x_group(grouped && x_cl ? group * in_plane : 0);
    std::vector<scalar_t> y_group(grouped && y_cl ? group * out_plane : 0);
    std::vector<scalar_t> d_group(grouped && d_cl ? group * out_plane : 0);

    auto resample = [&](const T* const* src, const T* const* fc, int64_t n, T* out) {
      fir.apply(src, fc, n, out, phase.data(), term_ptrs.data(), term_coefs.data());
    };

    // Output rows [oy0, oy1) of plane `plane`, from the NCHW planes given.
    auto run_plane = [&](int64_t plane, int64_t oy0, int64_t oy1, const scalar_t* xplane,
                         scalar_t* yplane, const scalar_t* dplane) {
      // The output row goes straight to y when y holds the arithmetic type.
      auto out_row = [&](int64_t oy) -> T* {
        if constexpr (std::is_same_v<T, scalar_t>) return yplane + oy * ax.out;
        return acc.data();
      };
      T plane_dot = 0;
      auto store_row = [&](int64_t oy, T* row) {
        if (dplane != nullptr) plane_dot += dot_row(row, dplane + oy * ax.out, ax.out);
        if (ep.s != nullptr) {
          const T scale = T(ep.s[plane]);
          if (ep.noise.data == nullptr) {
            for (int64_t i = 0; i < ax.out; ++i) row[i] *= scale;
          } else {
            const scalar_t* nz = ep.noise.plane(plane) + oy * ep.noise.row;
            const int64_t step = ep.noise.col;
            if (step == 1) {
              for (int64_t i = 0; i < ax.out; ++i) row[i] = row[i] * scale + T(nz[i]);
            } else {
              for (int64_t i = 0; i < ax.out; ++i) row[i] = row[i] * scale + T(nz[i * step]);
            }
          }
        }
        if constexpr (!std::is_same_v<T, scalar_t>) {
          scalar_t* dst = yplane + oy * ax.out;
          for (int64_t i = 0; i < ax.out; ++i) dst[i] = scalar_t(row[i]);
        }
      };

      if (whole_plane) {
        std::fill(padded.begin(), padded.end(), T(0));
        for (int64_t iy = 0; iy < ay.in; ++iy) {
          const scalar_t* src = xplane + iy * ax.in;
          T* dst = padded.data() + (iy + ay.pad0) * wp + ax.pad0;
          for (int64_t ix = 0; ix < ax.in; ++ix) dst[ix] = T(src[ix]);
        }
        const int64_t n = ay.out * wp;
        for (int64_t t = 0; t < ay.taps; ++t) shifted[t] = padded.data() + t * wp;
        combine_rows(shifted.data(), fcy, ay.taps, n, ypass.data());
        for (int64_t t = 0; t < ax.taps; ++t) shifted[t] = ypass.data() + t;
        combine_rows(shifted.data(), fcx, ax.taps, n, xpass.data());
        for (int64_t oy = oy0; oy < oy1; ++oy) {
          T* out = out_row(oy);
          std::copy(xpass.data() + oy * wp, xpass.data() + oy * wp + ax.out, out);
          store_row(oy, out);
        }
      } else if (!separable) {
        // 2-D filter: each output row sums the x-resampled input rows its filter rows reach.
        cache.reset();
        for (int64_t oy = oy0; oy < oy1; ++oy) {
          const upfirdn2d::TapStart s = upfirdn2d::tap_start(ay, oy);
          const int64_t taps = upfirdn2d::tap_count(ay, s.j0);
          int64_t n = 0;
          for (int64_t t = 0; t < taps; ++t) {
            const int64_t iy = s.i0 + t;
            if (iy < 0 || iy >= ay.in) continue;
            srcs[n] = cache.get(xplane, ax.in, iy);
            fcs[n] = fcx + (s.j0 + ay.up * t) * ax.taps;
            ++n;
          }
          T* out = out_row(oy);
          resample(srcs.data(), fcs.data(), n, out);
          store_row(oy, out);
        }
      } else if (x_first) {
        // Separable, x pass first: resample the input rows this block needs into `mid`.
        const upfirdn2d::TapStart s0 = upfirdn2d::tap_start(ay, oy0);
        const upfirdn2d::TapStart s1 = upfirdn2d::tap_start(ay, oy1 - 1);
        const int64_t iy0 = std::max<int64_t>(s0.i0, 0);
        const int64_t iy1 = std::min(s1.i0 + upfirdn2d::tap_count(ay, s1.j0), ay.in);
        const int64_t n_mid = std::max<int64_t>(iy1 - iy0, 0);
        mid.resize(n_mid * ax.out);
        for (int64_t r = 0; r < n_mid; ++r) {
          fir.load(xplane + (iy0 + r) * ax.in, own_row.data());
          const T* src = fir.prepare(own_row.data());
          resample(&src, &fcx, 1, mid.data() + r * ax.out);
        }
        // Then filter along y.
        for (int64_t oy = oy0; oy < oy1; ++oy) {
          const int64_t count = column_taps(ay, oy, fcy, rows.data(), coefs.data());
          for (int64_t t = 0; t < count; ++t) srcs[t] = mid.data() + (rows[t] - iy0) * ax.out;
          T* out = out_row(oy);
          combine_rows(srcs.data(), coefs.data(), count, ax.out, out);
          store_row(oy, out);
        }
      } else {
        // Separable, y pass first: combine input rows into the interior of a row buffer (its
        // margins stay zero), then resample along x.
        std::fill(own_row.begin(), own_row.end(), T(0));
        T* interior = own_row.data() + fir.interior_begin();
        const int64_t n_in = fir.interior_end() - fir.interior_begin();
        const int64_t skip = std::max<int64_t>(fir.first(), 0);  // input column of interior[0]
        for (int64_t oy = oy0; oy < oy1; ++oy) {
          const int64_t count = column_taps(ay, oy, fcy, rows.data(), coefs.data());
          for (int64_t t = 0; t < count; ++t) in_ptrs[t] = xplane + rows[t] * ax.in + skip;
          combine_rows(in_ptrs.data(), coefs.data(), count, n_in, interior);
          const T* src = fir.prepare(own_row.data());
          T* out = out_row(oy);
          resample(&src, &fcx, 1, out);
          store_row(oy, out);
        }
      }
      if (ep.dot != nullptr) ep.dot[plane] = scalar_t(plane_dot);
    };

    for (int64_t task = task0; task < task1; ++task) {
      if (!grouped) {
        const int64_t plane = task / blocks;
        const int64_t oy0 = (task % blocks) * rows_per_block;
        run_plane(plane, oy0, std::min(oy0 + rows_per_block, ay.out), xp + plane * in_plane,
                  yp + plane * out_plane, has_dot ? dp + plane * out_plane : nullptr);
        continue;
      }
      // Channels [c0, c0 + count) of sample n; a channels-last sample starts at n * C * H * W.
      const int64_t n = task / groups_per_sample, c0 = (task % groups_per_sample) * group;
      const int64_t count = std::min(group, channels - c0), q0 = n * channels + c0;
      const scalar_t* xs = xp + q0 * in_plane;
      const scalar_t* ds = has_dot ? dp + q0 * out_plane : nullptr;
      scalar_t* ys = yp + q0 * out_plane;
      if (x_cl) {  // [H * W, count] of [H * W, C] -> [count, H * W]
        transpose(in_plane, count, xp + n * channels * in_plane + c0, channels, x_group.data(),
                  in_plane);
        xs = x_group.data();
      }
      if (d_cl) {
        transpose(out_plane, count, dp + n * channels * out_plane + c0, channels,
                  d_group.data(), out_plane);
        ds = d_group.data();
      }
      if (y_cl) ys = y_group.data();
      for (int64_t k = 0; k < count; ++k) {
        run_plane(q0 + k, 0, ay.out, xs + k * in_plane, ys + k * out_plane,
                  ds != nullptr ? ds + k * out_plane : nullptr);
      }
      if (y_cl) {
        transpose(count, out_plane, y_group.data(), out_plane, yp + n * channels * out_plane + c0,
                  channels);
      }
    }
  });
  if (!yk.is_same(y)) y.copy_(yk);
}

}  // namespace

template <>
at::Tensor upfirdn2d_cpu<FASTGAN_CPU_ISA>(
    const at::Tensor& x, const at::Tensor& f, int64_t upx, int64_t upy, int64_t downx,
    int64_t downy, int64_t padx0, int64_t padx1, int64_t pady0, int64_t pady1, bool flip_filter,
    double gain) {
  TORCH_CHECK(x.device().is_cpu(), "upfirdn2d_cpu: x must be a CPU tensor, got ", x.device());
  const Upfirdn2dPlan p = plan_upfirdn2d(x, f, upx, upy, downx, downy, padx0, padx1, pady0,
                                         pady1, flip_filter, gain, true, true);
  at::Tensor y = upfirdn2d_output(p, p.channels_last);
  if (y.numel() > 0) {
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "upfirdn2d_cpu",
                                    [&] { upfirdn2d_cpu_impl<scalar_t>(p, y); });
  }
  return y;
}

namespace {

// s [N, C] for x [N, C, H, W]: checked, contiguous.
at::Tensor plane_scale(const char* op, const at::Tensor& s, const at::Tensor& x) {
  TORCH_CHECK(s.device() == x.device(), op, ": s must be on the device of x (", x.device(),
              "), got ", s.device());
  TORCH_CHECK(s.scalar_type() == x.scalar_type(), op, ": s must have the dtype of x (",
              x.scalar_type(), "), got ", s.scalar_type());
  TORCH_CHECK(s.dim() == 2 && s.size(0) == x.size(0) && s.size(1) == x.size(1), op,
              ": s must be [N, C] = [", x.size(0), ", ", x.size(1), "], got ", s.sizes());
  return s.contiguous();
}

}  // namespace

template <>
at::Tensor upfirdn2d_scale_cpu<FASTGAN_CPU_ISA>(
    const at::Tensor& x, const at::Tensor& f, const at::Tensor& s,
    const std::optional<at::Tensor>& noise, int64_t upx, int64_t upy, int64_t downx, int64_t downy,
    int64_t padx0, int64_t padx1, int64_t pady0, int64_t pady1, bool flip_filter, double gain,
    bool channels_last) {
  constexpr const char* op = "upfirdn2d_scale_cpu";
  TORCH_CHECK(x.device().is_cpu(), op, ": x must be a CPU tensor, got ", x.device());
  const Upfirdn2dPlan p = plan_upfirdn2d(x, f, upx, upy, downx, downy, padx0, padx1, pady0,
                                         pady1, flip_filter, gain, true, true);
  const at::Tensor scale = plane_scale(op, s, x);
  at::Tensor y = upfirdn2d_output(p, channels_last);
  if (noise.has_value()) {
    TORCH_CHECK(noise->device() == x.device() && noise->scalar_type() == x.scalar_type(), op,
                ": noise must be a ", x.scalar_type(), " tensor on ", x.device(), ", got ",
                noise->scalar_type(), " on ", noise->device());
    TORCH_CHECK(noise->sizes() == y.sizes(), op, ": noise must have the output's shape ",
                y.sizes(), " (expand it), got ", noise->sizes());
  }
  if (y.numel() > 0) {
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), op, [&] {
      Epilogue<scalar_t> ep;
      ep.s = scale.const_data_ptr<scalar_t>();
      if (noise.has_value()) ep.noise = {noise->const_data_ptr<scalar_t>(), *noise};
      upfirdn2d_cpu_impl<scalar_t>(p, y, ep);
    });
  }
  return y;
}

template <>
std::tuple<at::Tensor, at::Tensor> upfirdn2d_scale_grad_cpu<FASTGAN_CPU_ISA>(
    const at::Tensor& g, const at::Tensor& x, const at::Tensor& f, const at::Tensor& s, int64_t upx,
    int64_t upy, int64_t downx, int64_t downy, int64_t padx0, int64_t padx1, int64_t pady0,
    int64_t pady1, bool flip_filter, double gain) {
  constexpr const char* op = "upfirdn2d_scale_grad_cpu";
  TORCH_CHECK(g.device().is_cpu() && x.device().is_cpu(), op,
              ": g and x must be CPU tensors, got ", g.device(), " and ", x.device());
  TORCH_CHECK(g.scalar_type() == x.scalar_type(), op, ": g must have the dtype of x (",
              x.scalar_type(), "), got ", g.scalar_type());
  // The forward geometry, to check g against and to find the adjoint's padding.
  const Upfirdn2dPlan fwd = plan_upfirdn2d(x, f, upx, upy, downx, downy, padx0, padx1, pady0,
                                           pady1, flip_filter, gain, true, true);
  TORCH_CHECK(g.dim() == 4 && g.size(0) == x.size(0) && g.size(1) == x.size(1) &&
                  g.size(2) == fwd.ay.out && g.size(3) == fwd.ax.out,
              op, ": g must have the forward output's shape [", x.size(0), ", ", x.size(1), ", ",
              fwd.ay.out, ", ", fwd.ax.out, "], got ", g.sizes());
  const at::Tensor scale = plane_scale(op, s, x);

  // The adjoint of upfirdn2d: up and down swapped, the filter flipped, padded so that every
  // output sample meets the taps that read it (as fastgan/ops/upfirdn2d.py's backward).
  const int64_t fw = f.size(-1), fh = f.size(0);
  const int64_t in_w = x.size(3), in_h = x.size(2);
  const Upfirdn2dPlan adj = plan_upfirdn2d(
      g, f, downx, downy, upx, upy, fw - padx0 - 1,
      in_w * upx - fwd.ax.out * downx + padx0 - upx + 1, fh - pady0 - 1,
      in_h * upy - fwd.ay.out * downy + pady0 - upy + 1, !flip_filter, gain, true, true);
  TORCH_INTERNAL_ASSERT(adj.ay.out == in_h && adj.ax.out == in_w, op,
                        ": the adjoint's output does not match x");
  // dx in x's layout; x is read in place for the dot products.
  at::Tensor dx = upfirdn2d_output(adj, fwd.channels_last);
  at::Tensor ds = at::empty({x.size(0), x.size(1)}, x.options());
  if (dx.numel() > 0) {
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), op, [&] {
      Epilogue<scalar_t> ep;
      ep.s = scale.const_data_ptr<scalar_t>();
      ep.dot_with = fwd.x;
      ep.dot = ds.mutable_data_ptr<scalar_t>();
      upfirdn2d_cpu_impl<scalar_t>(adj, dx, ep);
    });
  } else {
    ds.zero_();
  }
  return {dx, ds};
}

FASTGAN_CPU_KERNELS_END

// Argument checks shared with the CUDA kernels: compiled once, in the baseline build.
#if FASTGAN_CPU_SHARED

Upfirdn2dPlan plan_upfirdn2d(const at::Tensor& x, const at::Tensor& f, int64_t upx, int64_t upy,
                             int64_t downx, int64_t downy, int64_t padx0, int64_t padx1,
                             int64_t pady0, int64_t pady1, bool flip_filter, double gain,
                             bool allow_half, bool keep_layout) {
  // Device, then dtype, then shapes and values.
  TORCH_CHECK(f.device() == x.device(), "upfirdn2d: f must be on the device of x (", x.device(),
              "), got ", f.device());
  const auto dtype = x.scalar_type();
  TORCH_CHECK(dtype == at::kFloat || dtype == at::kDouble || dtype == at::kBFloat16 ||
                  (allow_half && dtype == at::kHalf),
              "upfirdn2d: x must be float32, float64, bfloat16", allow_half ? " or float16" : "",
              " on ", x.device().type(), ", got ", dtype);
  TORCH_CHECK(at::isFloatingType(f.scalar_type()), "upfirdn2d: f must be a floating tensor, got ",
              f.scalar_type());
  TORCH_CHECK(x.dim() == 4, "upfirdn2d: x must be 4-D [N, C, H, W], got ", x.dim(), "-D");
  TORCH_CHECK(f.dim() == 1 || f.dim() == 2, "upfirdn2d: f must be 1-D or 2-D, got ", f.dim(),
              "-D");
  TORCH_CHECK(f.numel() > 0, "upfirdn2d: f must not be empty, got shape ", f.sizes());
  TORCH_CHECK(upx >= 1 && upy >= 1, "upfirdn2d: up must be >= 1, got (", upx, ", ", upy, ")");
  TORCH_CHECK(downx >= 1 && downy >= 1, "upfirdn2d: down must be >= 1, got (", downx, ", ",
              downy, ")");

  Upfirdn2dPlan p;
  p.separable = f.dim() == 1;
  const int64_t fw = f.size(-1), fh = f.size(0);
  p.ax = {x.size(3), upfirdn2d::out_size(x.size(3), upx, downx, padx0, padx1, fw), upx, downx,
          padx0, fw};
  p.ay = {x.size(2), upfirdn2d::out_size(x.size(2), upy, downy, pady0, pady1, fh), upy, downy,
          pady0, fh};
  TORCH_CHECK(p.ax.out >= 1 && p.ay.out >= 1,
              "upfirdn2d: padding leaves an empty output: (in * up + pad0 + pad1 - taps) // down"
              " + 1 must be >= 1 along x and y, got ", p.ax.out, " along x and ", p.ay.out,
              " along y");
  p.channels_last = !x.is_contiguous() && x.is_contiguous(at::MemoryFormat::ChannelsLast);
  p.x = keep_layout && p.channels_last ? x : x.contiguous();
  p.f = f.contiguous();
  p.flip_filter = flip_filter;
  p.gain = gain;
  return p;
}

at::Tensor upfirdn2d_output(const Upfirdn2dPlan& p, bool channels_last) {
  return at::empty({p.x.size(0), p.x.size(1), p.ay.out, p.ax.out},
                   p.x.options().memory_format(channels_last ? at::MemoryFormat::ChannelsLast
                                                             : at::MemoryFormat::Contiguous));
}

#endif  // FASTGAN_CPU_SHARED

}  // namespace fastgan
