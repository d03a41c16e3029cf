// Entry points of every native op, as registered in fastgan.cpp. CPU versions live in
// csrc/<op>/<op>_cpu.cpp, one specialization per instruction set (see cpu_isa.h); CUDA versions
// in csrc/<op>/<op>_cuda.cu.
#pragma once

#include <optional>
#include <string>
#include <tuple>

#include <ATen/core/Tensor.h>

#include "cpu_isa.h"
#include "filtered_lrelu/filtered_lrelu.h"
#include "upfirdn2d/upfirdn2d.h"

namespace fastgan {

// ---- bias_act ----

// Arguments of one bias_act call, checked and normalized once for every backend.
struct BiasActPlan {
  at::Tensor x;         // input, non-overlapping and dense (any dimension order)
  at::Tensor b;         // bias [C], contiguous, same dtype as x; undefined for none
  int act = 0;          // fastgan::bias_act::Act
  double alpha = 0;     // lrelu slope
  double gain = 1;      // output scale
  double clamp = -1;    // output limit; negative for none
  int64_t channels = 1; // C: x.size(dim) with a bias, else 1
  int64_t inner = 1;    // memory distance between neighbouring channels (x.stride(dim))
};

BiasActPlan plan_bias_act(const at::Tensor& x, const std::optional<at::Tensor>& b, int64_t dim,
                          const std::string& act, double alpha, double gain,
                          std::optional<double> clamp, bool allow_half);
// A copy of `t` laid out in memory exactly as `like` (same sizes and strides).
at::Tensor same_layout(const at::Tensor& t, const at::Tensor& like);

template <CpuIsa Isa>
at::Tensor bias_act_cpu(const at::Tensor& x, const std::optional<at::Tensor>& b, int64_t dim,
                        const std::string& act, double alpha, double gain,
                        std::optional<double> clamp);
template <CpuIsa Isa>
at::Tensor bias_act_grad_cpu(const at::Tensor& dy, const at::Tensor& x,
                             const std::optional<at::Tensor>& b, int64_t dim,
                             const std::string& act, double alpha, double gain,
                             std::optional<double> clamp, int64_t order);
#ifdef FASTGAN_WITH_CUDA
at::Tensor bias_act_cuda(const at::Tensor& x, const std::optional<at::Tensor>& b, int64_t dim,
                         const std::string& act, double alpha, double gain,
                         std::optional<double> clamp);
at::Tensor bias_act_grad_cuda(const at::Tensor& dy, const at::Tensor& x,
                              const std::optional<at::Tensor>& b, int64_t dim,
                              const std::string& act, double alpha, double gain,
                              std::optional<double> clamp, int64_t order);
#endif

// ---- adain ----

// Arguments of one adain call, checked and normalized once for every backend.
struct AdainPlan {
  at::Tensor x;                // input [N, C, *]: contiguous, or channels-last when 4-D
  at::Tensor scale;            // [N, C], contiguous, dtype of x
  bool channels_last = false;  // x is laid out as [N, *, C]
  int64_t N = 0;               // batch
  int64_t C = 0;               // channels
  int64_t L = 1;               // elements per plane (product of the spatial sizes)
};

AdainPlan plan_adain(const char* op, const at::Tensor& x, const at::Tensor& scale,
                     const std::optional<at::Tensor>& bias, double eps);
// Checks the saved statistics and incoming gradient of adain_grad against the plan.
void check_adain_grad(const char* op, const AdainPlan& p, const at::Tensor& dy,
                      const at::Tensor& mean, const at::Tensor& rstd);

template <CpuIsa Isa>
std::tuple<at::Tensor, at::Tensor, at::Tensor> adain_cpu(const at::Tensor& x,
                                                        const at::Tensor& scale,
                                                        const at::Tensor& bias, double eps);
template <CpuIsa Isa>
std::tuple<at::Tensor, at::Tensor, at::Tensor> adain_grad_cpu(
    const at::Tensor& dy, const at::Tensor& x, const at::Tensor& scale, const at::Tensor& mean,
    const at::Tensor& rstd, double eps);
#ifdef FASTGAN_WITH_CUDA
std::tuple<at::Tensor, at::Tensor, at::Tensor> adain_cuda(const at::Tensor& x,
                                                         const at::Tensor& scale,
                                                         const at::Tensor& bias, double eps);
std::tuple<at::Tensor, at::Tensor, at::Tensor> adain_grad_cuda(
    const at::Tensor& dy, const at::Tensor& x, const at::Tensor& scale, const at::Tensor& mean,
    const at::Tensor& rstd, double eps);
#endif

// ---- modulated_conv2d: modulated weights and the per-plane scale epilogue ----

// Arguments of modconv_weight(_grad): w[n, o, i, k] = weight[o, i, k] * a[n, i] * b[n, o].
struct ModconvWeightPlan {
  at::Tensor weight;  // [O, I, kh, kw], contiguous
  at::Tensor a;       // [N, I], contiguous, dtype of weight
  at::Tensor b;       // [N, O], contiguous, dtype of weight; undefined for all ones
  int64_t N = 0;      // batch
  int64_t O = 0;      // output channels
  int64_t I = 0;      // input channels
  int64_t K = 1;      // kernel taps kh * kw
};

ModconvWeightPlan plan_modconv_weight(const char* op, const at::Tensor& weight,
                                      const at::Tensor& a, const std::optional<at::Tensor>& b);

// Arguments of modconv_scale(_grad): y[n, c, h, w] = x[n, c, h, w] * s[n, c] + noise[n, c, h, w].
struct ModconvScalePlan {
  at::Tensor x;                // [N, C, H, W], contiguous or channels-last
  at::Tensor s;                // [N, C], contiguous, dtype of x
  bool channels_last = false;  // x is laid out as [N, H, W, C]
  int64_t N = 0;
  int64_t C = 0;
  int64_t L = 0;               // H * W
  int64_t W = 0;
};

ModconvScalePlan plan_modconv_scale(const char* op, const at::Tensor& x, const at::Tensor& s);
// Checks noise against the plan: the shape of x (an expanded view is fine), its dtype and device.
void check_modconv_noise(const char* op, const ModconvScalePlan& p, const at::Tensor& noise);

template <CpuIsa Isa>
at::Tensor modconv_weight_cpu(const at::Tensor& weight, const at::Tensor& a,
                              const std::optional<at::Tensor>& b);
template <CpuIsa Isa>
std::tuple<at::Tensor, at::Tensor, at::Tensor> modconv_weight_grad_cpu(
    const at::Tensor& g, const at::Tensor& weight, const at::Tensor& a,
    const std::optional<at::Tensor>& b);
template <CpuIsa Isa>
at::Tensor modconv_scale_cpu(const at::Tensor& x, const at::Tensor& s,
                             const std::optional<at::Tensor>& noise);
template <CpuIsa Isa>
std::tuple<at::Tensor, at::Tensor> modconv_scale_grad_cpu(const at::Tensor& g,
                                                          const at::Tensor& x,
                                                          const at::Tensor& s);
#ifdef FASTGAN_WITH_CUDA
at::Tensor modconv_weight_cuda(const at::Tensor& weight, const at::Tensor& a,
                               const std::optional<at::Tensor>& b);
std::tuple<at::Tensor, at::Tensor, at::Tensor> modconv_weight_grad_cuda(
    const at::Tensor& g, const at::Tensor& weight, const at::Tensor& a,
    const std::optional<at::Tensor>& b);
at::Tensor modconv_scale_cuda(const at::Tensor& x, const at::Tensor& s,
                              const std::optional<at::Tensor>& noise);
std::tuple<at::Tensor, at::Tensor> modconv_scale_grad_cuda(const at::Tensor& g,
                                                           const at::Tensor& x,
                                                           const at::Tensor& s);
#endif

// ---- upfirdn2d ----

// Arguments of one upfirdn2d call, checked and normalized once for every backend.
struct Upfirdn2dPlan {
  at::Tensor x;                // input [N, C, H, W]: NCHW, or channels-last if keep_layout
  at::Tensor f;                // filter [fh, fw], or [ft] when separable; contiguous, on x's device
  bool separable = false;      // f is 1-D and applies along x and then along y
  upfirdn2d::Axis ax{};        // resampling along W
  upfirdn2d::Axis ay{};        // resampling along H
  bool flip_filter = false;    // true: correlate with f; false: convolve
  double gain = 1;             // output scale
  bool channels_last = false;  // x is channels-last (upfirdn2d's output then is too)
};

Upfirdn2dPlan plan_upfirdn2d(const at::Tensor& x, const at::Tensor& f, int64_t upx, int64_t upy,
                             int64_t downx, int64_t downy, int64_t padx0, int64_t padx1,
                             int64_t pady0, int64_t pady1, bool flip_filter, double gain,
                             bool allow_half, bool keep_layout = false);
// An empty output [N, C, out_h, out_w] for the plan, in x's dtype and device, NCHW contiguous
// or channels-last.
at::Tensor upfirdn2d_output(const Upfirdn2dPlan& p, bool channels_last = false);

template <CpuIsa Isa>
at::Tensor upfirdn2d_cpu(const at::Tensor& x, const at::Tensor& f, int64_t upx, int64_t upy,
                         int64_t downx, int64_t downy, int64_t padx0, int64_t padx1,
                         int64_t pady0, int64_t pady1, bool flip_filter, double gain);
// upfirdn2d with a per-plane scale and noise: y[n, c] = s[n, c] * upfirdn2d(x)[n, c] + noise.
// x (and noise) in any layout; y channels-last when channels_last, else NCHW.
template <CpuIsa Isa>
at::Tensor upfirdn2d_scale_cpu(const at::Tensor& x, const at::Tensor& f, const at::Tensor& s,
                               const std::optional<at::Tensor>& noise, int64_t upx, int64_t upy,
                               int64_t downx, int64_t downy, int64_t padx0, int64_t padx1,
                               int64_t pady0, int64_t pady1, bool flip_filter, double gain,
                               bool channels_last);
// Its gradient for the forward arguments given: with u = the adjoint of upfirdn2d applied to g,
// (s[n, c] * u[n, c], sum over H, W of u[n, c] * x[n, c]); the first in x's layout.
template <CpuIsa Isa>
std::tuple<at::Tensor, at::Tensor> upfirdn2d_scale_grad_cpu(
    const at::Tensor& g, const at::Tensor& x, const at::Tensor& f, const at::Tensor& s,
    int64_t upx, int64_t upy, int64_t downx, int64_t downy, int64_t padx0, int64_t padx1,
    int64_t pady0, int64_t pady1, bool flip_filter, double gain);
#ifdef FASTGAN_WITH_CUDA
at::Tensor upfirdn2d_cuda(const at::Tensor& x, const at::Tensor& f, int64_t upx, int64_t upy,
                          int64_t downx, int64_t downy, int64_t padx0, int64_t padx1,
                          int64_t pady0, int64_t pady1, bool flip_filter, double gain);
#endif

// ---- filtered_lrelu ----

// One core of filtered_lrelu (see filtered_lrelu/filtered_lrelu.h), checked and prepared once
// for every backend.
struct FilteredLReluPlan {
  at::Tensor in;            // core input [N, C, h, w], any strides
  at::Tensor b;             // bias [C] added to the input, contiguous; undefined for none
  at::Tensor w1;            // up taps (correlation order, gain applied): [L] or [Ly, Lx]
  at::Tensor w2;            // down taps (correlation order): [L] or [Ly, Lx]
  filtered_lrelu::Axis ax;  // the core along the width
  filtered_lrelu::Axis ay;  // the core along the height
  filtered_lrelu::Mode mode = filtered_lrelu::Mode::kForward;
  double gain = 1;          // leaky ReLU gain
  double slope = 0;         // leaky ReLU negative slope
  double clamp = -1;        // output limit of the leaky ReLU; negative for none
  at::Tensor signs;         // [N, C, sign_rows, sign_row_bytes] uint8 codes; undefined for none
  int64_t sign_rows = 0;    // forward mid rows
  int64_t sign_cols = 0;    // forward mid columns
  bool channels_last = false;  // lay the output out channels-last
};

// The forward core; allocates the sign tensor when write_signs is set.
FilteredLReluPlan plan_filtered_lrelu(const at::Tensor& x, const at::Tensor& fu,
                                      const at::Tensor& fd, const std::optional<at::Tensor>& b,
                                      int64_t up, int64_t down, at::IntArrayRef padding,
                                      double gain, double slope, std::optional<double> clamp,
                                      bool flip_filter, bool write_signs);
// The linear map with stored codes: transpose = false maps an x-shaped g like the forward,
// transpose = true maps a y-shaped g back like the forward's gradient.
FilteredLReluPlan plan_filtered_lrelu_stored(const at::Tensor& g, const at::Tensor& signs,
                                             const at::Tensor& fu, const at::Tensor& fd,
                                             int64_t up, int64_t down, at::IntArrayRef padding,
                                             double gain, double slope, bool flip_filter,
                                             at::IntArrayRef x_size, bool transpose);
// The output tensor of a plan: [N, C, ay.out, ax.out] in the layout the plan asks for.
at::Tensor filtered_lrelu_output(const FilteredLReluPlan& p);

template <CpuIsa Isa>
std::tuple<at::Tensor, at::Tensor> filtered_lrelu_cpu(
    const at::Tensor& x, const at::Tensor& fu, const at::Tensor& fd,
    const std::optional<at::Tensor>& b, int64_t up, int64_t down, at::IntArrayRef padding,
    double gain, double slope, std::optional<double> clamp, bool flip_filter, bool write_signs);
template <CpuIsa Isa>
at::Tensor filtered_lrelu_stored_cpu(const at::Tensor& g, const at::Tensor& signs,
                                     const at::Tensor& fu, const at::Tensor& fd, int64_t up,
                                     int64_t down, at::IntArrayRef padding, double gain,
                                     double slope, bool flip_filter, at::IntArrayRef x_size,
                                     bool transpose);
#ifdef FASTGAN_WITH_CUDA
std::tuple<at::Tensor, at::Tensor> filtered_lrelu_cuda(
    const at::Tensor& x, const at::Tensor& fu, const at::Tensor& fd,
    const std::optional<at::Tensor>& b, int64_t up, int64_t down, at::IntArrayRef padding,
    double gain, double slope, std::optional<double> clamp, bool flip_filter, bool write_signs);
at::Tensor filtered_lrelu_stored_cuda(const at::Tensor& g, const at::Tensor& signs,
                                      const at::Tensor& fu, const at::Tensor& fd, int64_t up,
                                      int64_t down, at::IntArrayRef padding, double gain,
                                      double slope, bool flip_filter, at::IntArrayRef x_size,
                                      bool transpose);
#endif

}  // namespace fastgan
