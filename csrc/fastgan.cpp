// The fastgan operator library: every schema, the kernels of each backend, and the pybind11
// module that reports what was built.
#include <pybind11/pybind11.h>
#include <torch/library.h>

#include <c10/util/Exception.h>

#include "cpu_isa.h"
#include "ops.h"

#ifndef FASTGAN_VERSION
#define FASTGAN_VERSION "unknown"
#endif

TORCH_LIBRARY(fastgan, m) {
  m.def(
      "bias_act(Tensor x, Tensor? b, int dim, str act, float alpha, float gain, float? clamp)"
      " -> Tensor");
  m.def(
      "bias_act_grad(Tensor dy, Tensor x, Tensor? b, int dim, str act, float alpha, float gain,"
      " float? clamp, int order) -> Tensor");
  m.def("adain(Tensor x, Tensor scale, Tensor bias, float eps) -> (Tensor, Tensor, Tensor)");
  m.def(
      "adain_grad(Tensor dy, Tensor x, Tensor scale, Tensor mean, Tensor rstd, float eps)"
      " -> (Tensor, Tensor, Tensor)");
  m.def("modconv_weight(Tensor weight, Tensor a, Tensor? b) -> Tensor");
  m.def(
      "modconv_weight_grad(Tensor g, Tensor weight, Tensor a, Tensor? b)"
      " -> (Tensor, Tensor, Tensor)");
  m.def("modconv_scale(Tensor x, Tensor s, Tensor? noise) -> Tensor");
  m.def("modconv_scale_grad(Tensor g, Tensor x, Tensor s) -> (Tensor, Tensor)");
  m.def(
      "upfirdn2d(Tensor x, Tensor f, int upx, int upy, int downx, int downy, int padx0,"
      " int padx1, int pady0, int pady1, bool flip_filter, float gain) -> Tensor");
  m.def(
      "upfirdn2d_scale(Tensor x, Tensor f, Tensor s, Tensor? noise, int upx, int upy, int downx,"
      " int downy, int padx0, int padx1, int pady0, int pady1, bool flip_filter, float gain,"
      " bool channels_last) -> Tensor");
  m.def(
      "upfirdn2d_scale_grad(Tensor g, Tensor x, Tensor f, Tensor s, int upx, int upy, int downx,"
      " int downy, int padx0, int padx1, int pady0, int pady1, bool flip_filter, float gain)"
      " -> (Tensor, Tensor)");
  m.def(
      "filtered_lrelu(Tensor x, Tensor fu, Tensor fd, Tensor? b, int up, int down, int[] padding,"
      " float gain, float slope, float? clamp, bool flip_filter, bool write_signs)"
      " -> (Tensor, Tensor)");
  m.def(
      "filtered_lrelu_stored(Tensor g, Tensor signs, Tensor fu, Tensor fd, int up, int down,"
      " int[] padding, float gain, float slope, bool flip_filter, int[] x_size, bool transpose)"
      " -> Tensor");
}

TORCH_LIBRARY_IMPL(fastgan, CPU, m) {
  m.impl("bias_act", FASTGAN_CPU_DISPATCH(fastgan::bias_act_cpu));
  m.impl("bias_act_grad", FASTGAN_CPU_DISPATCH(fastgan::bias_act_grad_cpu));
  m.impl("adain", FASTGAN_CPU_DISPATCH(fastgan::adain_cpu));
  m.impl("adain_grad", FASTGAN_CPU_DISPATCH(fastgan::adain_grad_cpu));
  m.impl("modconv_weight", FASTGAN_CPU_DISPATCH(fastgan::modconv_weight_cpu));
  m.impl("modconv_weight_grad", FASTGAN_CPU_DISPATCH(fastgan::modconv_weight_grad_cpu));
  m.impl("modconv_scale", FASTGAN_CPU_DISPATCH(fastgan::modconv_scale_cpu));
  m.impl("modconv_scale_grad", FASTGAN_CPU_DISPATCH(fastgan::modconv_scale_grad_cpu));
  m.impl("upfirdn2d", FASTGAN_CPU_DISPATCH(fastgan::upfirdn2d_cpu));
  m.impl("upfirdn2d_scale", FASTGAN_CPU_DISPATCH(fastgan::upfirdn2d_scale_cpu));
  m.impl("upfirdn2d_scale_grad", FASTGAN_CPU_DISPATCH(fastgan::upfirdn2d_scale_grad_cpu));
  m.impl("filtered_lrelu", FASTGAN_CPU_DISPATCH(fastgan::filtered_lrelu_cpu));
  m.impl("filtered_lrelu_stored", FASTGAN_CPU_DISPATCH(fastgan::filtered_lrelu_stored_cpu));
}

#ifdef FASTGAN_WITH_CUDA
TORCH_LIBRARY_IMPL(fastgan, CUDA, m) {
  m.impl("bias_act", &fastgan::bias_act_cuda);
  m.impl("bias_act_grad", &fastgan::bias_act_grad_cuda);
  m.impl("adain", &fastgan::adain_cuda);
  m.impl("adain_grad", &fastgan::adain_grad_cuda);
  m.impl("modconv_weight", &fastgan::modconv_weight_cuda);
  m.impl("modconv_weight_grad", &fastgan::modconv_weight_grad_cuda);
  m.impl("modconv_scale", &fastgan::modconv_scale_cuda);
  m.impl("modconv_scale_grad", &fastgan::modconv_scale_grad_cuda);
  m.impl("upfirdn2d", &fastgan::upfirdn2d_cuda);
  m.impl("filtered_lrelu", &fastgan::filtered_lrelu_cuda);
  m.impl("filtered_lrelu_stored", &fastgan::filtered_lrelu_stored_cuda);
}
#endif

namespace {

pybind11::dict build_info() {
  pybind11::dict info;
  info["version"] = FASTGAN_VERSION;
  info["cpu"] = true;
  // The ISA is chosen here at the latest, when the package loads; a bad FASTGAN_CPU_ISA is a
  // ValueError to Python.
  try {
    info["cpu_isa"] = fastgan::cpu_isa_name(fastgan::cpu_isa());
  } catch (const c10::ValueError& error) {
    throw pybind11::value_error(error.what_without_backtrace());
  }
  pybind11::list isas;
  for (fastgan::CpuIsa isa : fastgan::available_cpu_isas()) isas.append(fastgan::cpu_isa_name(isa));
  info["cpu_isas"] = isas;
#ifdef FASTGAN_WITH_CUDA
  info["cuda"] = true;
  pybind11::list archs;
  std::string all = FASTGAN_CUDA_ARCHS, item;
  for (char ch : all + ",") {
    if (ch == ',') {
      if (!item.empty()) archs.append(item);
      item.clear();
    } else {
      item += ch;
    }
  }
  info["cuda_archs"] = archs;
#else
  info["cuda"] = false;
  info["cuda_archs"] = pybind11::list();
#endif
  return info;
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "fastgan native ops; the ops themselves are registered as torch.ops.fastgan.*";
  m.def("build_info", &build_info, "What this build of the extension holds.");
}
