// Index math and element math of filtered_lrelu, shared by the CPU and CUDA kernels. No torch
// types here.
//
// Every call of the native op (forward, its gradient and the gradient of that) runs one "core"
// per channel plane, the same along each axis:
//
//   zero-insert the input by `up` (input sample i sits at position pad + up * i),
//   correlate with the up taps:   mid[j] = sum_t w1[t] * z[j + t],
//   act:                          a[j] = act(mid[j]),
//   correlate at stride `down`:   out[q] = sum_t w2[t] * a[q * down + t].
//
// The act is either the leaky ReLU with gain and clamp (forward: it also records a 2-bit code
// per mid sample) or a multiplication by the factor a stored code stands for (the linear maps
// of the backward passes). Taps are correlation weights: the caller has flipped the filters and
// applied the upsampling gain.
#pragma once

#include <cstdint>

#include "common.h"

namespace fastgan::filtered_lrelu {

// The 2-bit code of one mid sample: bit 0 = not positive (the leaky ReLU took the slope),
// bit 1 = clamped (the gradient is zero there).
constexpr uint8_t kNegative = 1;
constexpr uint8_t kClamped = 2;
// Mid samples per byte of the sign tensor.
constexpr int64_t kCodesPerByte = 4;

// What the act of a core does.
enum class Mode : int {
  kForward = 0,  // leaky ReLU, gain, clamp; codes written where a sign tensor is given
  kStored = 1,   // multiply by the factor of the stored code (gain, gain * slope or 0)
};

// One axis of a core.
struct Axis {
  int64_t in = 0;         // input samples
  int64_t up = 1;         // zero-insertion factor
  int64_t pad = 0;        // position of input sample 0 on the zero-inserted grid; may be < 0
  int64_t taps_up = 1;    // up taps along this axis
  int64_t down = 1;       // output stride on the mid grid
  int64_t taps_down = 1;  // down taps along this axis
  int64_t out = 0;        // output samples
  int64_t mid = 0;        // mid samples that outputs read: (out - 1) * down + taps_down
  int64_t sign_offset = 0;  // index in the forward's mid grid of this core's mid sample 0
};

FASTGAN_HD int64_t floor_div(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

FASTGAN_HD int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

// a mod b in [0, b) for b > 0.
FASTGAN_HD int64_t positive_mod(int64_t a, int64_t b) { return a - floor_div(a, b) * b; }

// The forward core of one axis: `size` input samples, padding `pad0` before and `pad1` after
// the zero-inserted signal (negative crops), filters of `taps_up` and `taps_down` taps.
FASTGAN_HD Axis forward_axis(int64_t size, int64_t up, int64_t down, int64_t pad0, int64_t pad1,
                             int64_t taps_up, int64_t taps_down) {
  Axis a;
  a.in = size;
  a.up = up;
  a.pad = pad0;
  a.taps_up = taps_up;
  a.down = down;
  a.taps_down = taps_down;
  // The upsampled, padded signal has size * up + pad0 + pad1 samples; each filter shortens it.
  const int64_t valid = size * up + pad0 + pad1 - (taps_up - 1) - (taps_down - 1);
  a.out = valid > 0 ? ceil_div(valid, down) : 0;
  a.mid = a.out > 0 ? (a.out - 1) * down + taps_down : 0;
  a.sign_offset = 0;
  return a;
}

// The core that maps an output gradient (fwd.out samples) back to the input (fwd.in samples):
// zero-insert by down, correlate with the reversed down taps, stored factors, correlate with
// the reversed up taps at stride up. Its mid sample j is the forward's mid sample
// j + sign_offset.
FASTGAN_HD Axis transposed_axis(const Axis& fwd) {
  Axis a;
  a.in = fwd.out;
  a.up = fwd.down;
  a.pad = (fwd.taps_down - 1) + (fwd.taps_up - 1) - fwd.pad;
  a.taps_up = fwd.taps_down;
  a.down = fwd.up;
  a.taps_down = fwd.taps_up;
  a.out = fwd.in;
  a.mid = a.out > 0 ? (a.out - 1) * a.down + a.taps_down : 0;
  a.sign_offset = fwd.pad - (fwd.taps_up - 1);
  return a;
}

// Up taps [t0, t1) contribute to mid sample j: those with j + t on an input sample.
// Sets *first_input to the input index that tap t0 reads (later taps read +1 per `up`).
FASTGAN_HD void up_taps(const Axis& a, int64_t j, int64_t* t0, int64_t* t1,
                        int64_t* first_input) {
  // Input i sits at pad + up * i; tap t reads position j + t.
  int64_t i_lo = ceil_div(j - a.pad, a.up);
  int64_t i_hi = floor_div(j + a.taps_up - 1 - a.pad, a.up);
  i_lo = i_lo < 0 ? 0 : i_lo;
  i_hi = i_hi > a.in - 1 ? a.in - 1 : i_hi;
  if (i_hi < i_lo) {
    *t0 = *t1 = 0;
    *first_input = 0;
    return;
  }
  *t0 = a.pad + a.up * i_lo - j;
  *t1 = a.pad + a.up * i_hi - j + 1;
  *first_input = i_lo;
}

// Scalars of the act, in the arithmetic type.
template <typename T>
struct ActScalars {
  T gain;   // multiplies the leaky ReLU
  T slope;  // negative slope
  T clamp;  // output limit; ignored unless the kernel clamps
};

// Forward act of one mid sample: the value and its code. Selects rather than branches, so that
// loops over samples vectorize; a NaN stays NaN and counts as clamped, as torch.clamp's
// gradient treats it.
template <bool Clamp, typename T>
FASTGAN_HD T act_forward(T v, const ActScalars<T>& s, uint8_t* code) {
  const T negative = v * s.slope;
  const bool positive = v > T(0);
  T y = (positive ? v : negative) * s.gain;
  uint8_t c = positive ? uint8_t(0) : kNegative;
  if constexpr (Clamp) {
    // `&`, not `&&`: both comparisons always run, so the compiler needs no branch.
    const bool inside = (y >= -s.clamp) & (y <= s.clamp);
    c = uint8_t(c | (inside ? uint8_t(0) : kClamped));
    y = s.clamp < y ? s.clamp : y;
    y = -s.clamp > y ? -s.clamp : y;
  }
  *code = c;
  return y;
}

// The derivative of the forward act that a code stands for.
template <typename T>
FASTGAN_HD T code_factor(uint8_t code, const ActScalars<T>& s) {
  const T slope_gain = s.gain * s.slope;
  const T f = (code & kNegative) ? slope_gain : s.gain;
  return (code & kClamped) ? T(0) : f;
}

// Code of forward mid sample (row, col) from a sign tensor plane of `rows` x `cols` samples
// packed kCodesPerByte to a byte, rows padded to `row_bytes`. Outside the plane: clamped (zero
// factor); the gradient there is zero in any case.
FASTGAN_HD uint8_t read_code(const uint8_t* plane, int64_t rows, int64_t cols, int64_t row_bytes,
                             int64_t row, int64_t col) {
  if (row < 0 || row >= rows || col < 0 || col >= cols) return kClamped;
  const uint8_t byte = plane[row * row_bytes + col / kCodesPerByte];
  return uint8_t((byte >> (2 * (col % kCodesPerByte))) & 3);
}

}  // namespace fastgan::filtered_lrelu
