// Index math of upfirdn2d along one axis, shared by the CPU and CUDA kernels. No torch types.
//
// Along one axis, with input u[0..in), factor `up`, padding (pad0, pad1), a filter of `taps`
// coefficients in correlation order fc[0..taps) and factor `down`:
//   z[s] = u[s / up] where s % up == 0 and 0 <= s / up < in, else 0    (zero insertion)
//   y[o] = sum_j fc[j] * z[o * down - pad0 + j],  0 <= o < out      (filter, every down-th)
//   out  = (in * up + pad0 + pad1 - taps) // down + 1
// Only the taps j with (o * down - pad0 + j) % up == 0 read an input sample: j = j0 + up * t,
// reading u[i0 + t] for t = 0, 1, ... while j < taps.
#pragma once

#include <cstdint>

#include "common.h"

namespace fastgan::upfirdn2d {

// a // b rounded towards negative infinity, for b > 0.
FASTGAN_HD int64_t floor_div(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (q * b > a) ? q - 1 : q;
}

// a mod b in [0, b), for b > 0.
FASTGAN_HD int64_t floor_mod(int64_t a, int64_t b) { return a - floor_div(a, b) * b; }

FASTGAN_HD int64_t out_size(int64_t in, int64_t up, int64_t down, int64_t pad0, int64_t pad1,
                            int64_t taps) {
  return floor_div(in * up + pad0 + pad1 - taps, down) + 1;
}

// The resampling along one axis of one call.
struct Axis {
  int64_t in;    // input samples
  int64_t out;   // output samples
  int64_t up;    // zero-insertion factor, >= 1
  int64_t down;  // decimation factor, >= 1
  int64_t pad0;  // zeros before the upsampled signal (negative: crop)
  int64_t taps;  // filter length along this axis
};

// The first tap j0 that reads a sample for output o, and the input index i0 it reads.
struct TapStart {
  int64_t j0;
  int64_t i0;
};

FASTGAN_HD TapStart tap_start(const Axis& a, int64_t o) {
  const int64_t s = o * a.down - a.pad0;  // upsampled position under tap 0
  const int64_t j0 = floor_mod(-s, a.up);
  return {j0, floor_div(s + j0, a.up)};
}

// Number of taps j0, j0 + up, ... below `taps`.
FASTGAN_HD int64_t tap_count(const Axis& a, int64_t j0) {
  return j0 >= a.taps ? 0 : (a.taps - j0 + a.up - 1) / a.up;
}

// Smallest and largest input index that any output reads (before clipping to [0, in)).
FASTGAN_HD int64_t first_input(const Axis& a) { return floor_div(-a.pad0 + a.up - 1, a.up); }
FASTGAN_HD int64_t last_input(const Axis& a) {
  return floor_div((a.out - 1) * a.down - a.pad0 + a.taps - 1, a.up);
}

}  // namespace fastgan::upfirdn2d
