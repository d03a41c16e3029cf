// The run-time choice of the CPU kernels' instruction set (see cpu_isa.h).
#include "cpu_isa.h"

#include <cstdlib>
#include <string>

#include <c10/util/Exception.h>

namespace fastgan {

namespace {

constexpr const char* kVariable = "FASTGAN_CPU_ISA";

bool cpu_runs(CpuIsa isa) {
#if defined(FASTGAN_CPU_MULTI_ISA)
  // The features each build's target pragma enables; libgcc also checks that the OS saves the
  // wide registers.
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  switch (isa) {
    case CpuIsa::kBaseline: return true;
    case CpuIsa::kAvx2: return avx2;
    case CpuIsa::kAvx512:
      return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512vl");
  }
  return false;
#else
  return isa == CpuIsa::kBaseline;
#endif
}

std::string names(const std::vector<CpuIsa>& isas) {
  std::string out;
  for (CpuIsa isa : isas) {
    if (!out.empty()) out += ", ";
    out += cpu_isa_name(isa);
  }
  return out;
}

// The ISA, or the message of the error every later call raises.
struct Choice {
  CpuIsa isa = CpuIsa::kBaseline;
  std::string error;
};

Choice choose() {
  const std::vector<CpuIsa> available = available_cpu_isas();
  const char* env = std::getenv(kVariable);
  const std::string wanted = env == nullptr ? "" : env;
  if (wanted.empty() || wanted == "auto") return {available.back(), ""};
  for (CpuIsa isa : {CpuIsa::kBaseline, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
    if (wanted != cpu_isa_name(isa)) continue;
    for (CpuIsa have : available) {
      if (have == isa) return {isa, ""};
    }
    return {CpuIsa::kBaseline, std::string(kVariable) + "=" + wanted + " names an ISA that this " +
                                   "build or CPU lacks: expected one of auto, " +
                                   names(available) + ", got '" + wanted + "'"};
  }
  return {CpuIsa::kBaseline, std::string(kVariable) + " must be auto, baseline, avx2 or avx512 " +
                                 "(or unset), got '" + wanted + "'"};
}

}  // namespace

const char* cpu_isa_name(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kAvx2: return "avx2";
    case CpuIsa::kAvx512: return "avx512";
    default: return "baseline";
  }
}

std::vector<CpuIsa> available_cpu_isas() {
  std::vector<CpuIsa> out;
  for (CpuIsa isa : {CpuIsa::kBaseline, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
    if (cpu_runs(isa)) out.push_back(isa);
  }
  return out;
}

CpuIsa cpu_isa() {
  static const Choice choice = choose();
  TORCH_CHECK_VALUE(choice.error.empty(), choice.error);
  return choice.isa;
}

}  // namespace fastgan
