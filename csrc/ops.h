// Entry points of every native op, as registered in fastgan.cpp. CPU versions live in
// csrc/<op>/<op>_cpu.cpp, CUDA versions in csrc/<op>/<op>_cuda.cu.
#pragma once

#include <optional>
#include <string>

#include <ATen/core/Tensor.h>

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

at::Tensor bias_act_cpu(const at::Tensor& x, const std::optional<at::Tensor>& b, int64_t dim,
                        const std::string& act, double alpha, double gain,
                        std::optional<double> clamp);
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

}  // namespace fastgan
