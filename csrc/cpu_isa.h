// The instruction set the CPU kernels run with, chosen once per process at run time.
//
// On x86-64 with GCC or Clang, CMakeLists.txt compiles every file that brackets its kernels
// with FASTGAN_CPU_KERNELS_BEGIN / _END three times: for baseline x86-64 (SSE2), for AVX2 + FMA
// and for AVX-512, with FASTGAN_CPU_ISA_BUILD = 0, 1 or 2. A kernel entry point is a function
// template on CpuIsa, and each build defines its own specialization, so the three live side by
// side in one library; FASTGAN_CPU_DISPATCH registers a trampoline that calls the one cpu_isa()
// picked. Elsewhere (other CPUs and compilers) only the baseline build exists.
//
// The ISA is switched on by a target pragma over the kernels alone, never by -march for the
// whole file: the inline functions of torch's and the standard library's headers, of which the
// linker keeps one copy for the whole library, must stay baseline code. The pragma names ISA
// extensions only (no "arch="), so that GCC still inlines those baseline helpers into kernels.
#pragma once

#include <vector>

namespace fastgan {

enum class CpuIsa : int { kBaseline = 0, kAvx2 = 1, kAvx512 = 2 };

// The ISA of this process's CPU kernels, chosen at the first call: the one the environment
// variable FASTGAN_CPU_ISA names (baseline, avx2 or avx512), or the best one this build holds
// and this CPU runs when it is unset, empty or "auto". Throws c10::ValueError, at every call,
// when the variable names anything else or an ISA the build or the CPU lacks.
CpuIsa cpu_isa();

// "baseline", "avx2" or "avx512".
const char* cpu_isa_name(CpuIsa isa);

// The ISAs this build holds and this CPU runs, baseline first.
std::vector<CpuIsa> available_cpu_isas();

// Calls the kernel of the ISA in force; Baseline, Avx2 and Avx512 are the three
// specializations of one kernel template.
template <auto Baseline, auto Avx2, auto Avx512>
struct CpuDispatch;

template <typename R, typename... A, R (*Baseline)(A...), R (*Avx2)(A...), R (*Avx512)(A...)>
struct CpuDispatch<Baseline, Avx2, Avx512> {
  static R call(A... args) {
    switch (cpu_isa()) {
      case CpuIsa::kAvx512: return Avx512(args...);
      case CpuIsa::kAvx2: return Avx2(args...);
      default: return Baseline(args...);
    }
  }
};

}  // namespace fastgan

#if defined(FASTGAN_CPU_MULTI_ISA)
#define FASTGAN_CPU_DISPATCH(fn)                                                   \
  (&::fastgan::CpuDispatch<&fn<::fastgan::CpuIsa::kBaseline>,                      \
                           &fn<::fastgan::CpuIsa::kAvx2>, &fn<::fastgan::CpuIsa::kAvx512>>::call)
#else
#define FASTGAN_CPU_DISPATCH(fn) (&fn<::fastgan::CpuIsa::kBaseline>)
#endif

// The build this translation unit is: 0 baseline, 1 AVX2 + FMA, 2 AVX-512 (set by CMake).
#ifndef FASTGAN_CPU_ISA_BUILD
#define FASTGAN_CPU_ISA_BUILD 0
#endif
#define FASTGAN_CPU_ISA (::fastgan::CpuIsa(FASTGAN_CPU_ISA_BUILD))
// Code outside the kernels (argument checks shared with CUDA) is compiled in the baseline build
// only, so that it is defined once.
#define FASTGAN_CPU_SHARED (FASTGAN_CPU_ISA_BUILD == 0)

// The ISA extensions of each build; the AVX-512 build asks for 512-bit vectors, which GCC's
// generic tuning would otherwise split into 256-bit ones.
#define FASTGAN_CPU_AVX2_TARGET "avx2,fma"
#define FASTGAN_CPU_AVX512_TARGET \
  "avx2,fma,avx512f,avx512cd,avx512bw,avx512dq,avx512vl,prefer-vector-width=512"
#define FASTGAN_CPU_PRAGMA(text) _Pragma(#text)

#if FASTGAN_CPU_ISA_BUILD == 0
#define FASTGAN_CPU_KERNELS_BEGIN
#define FASTGAN_CPU_KERNELS_END
#else
#if FASTGAN_CPU_ISA_BUILD == 1
#define FASTGAN_CPU_TARGET FASTGAN_CPU_AVX2_TARGET
#else
#define FASTGAN_CPU_TARGET FASTGAN_CPU_AVX512_TARGET
#endif
#if defined(__clang__)
#define FASTGAN_CPU_TARGET_PUSH(isa) \
  FASTGAN_CPU_PRAGMA(clang attribute push(__attribute__((target(isa))), apply_to = function))
#define FASTGAN_CPU_KERNELS_BEGIN FASTGAN_CPU_TARGET_PUSH(FASTGAN_CPU_TARGET)
#define FASTGAN_CPU_KERNELS_END _Pragma("clang attribute pop")
#else
#define FASTGAN_CPU_TARGET_PUSH(isa) FASTGAN_CPU_PRAGMA(GCC target(isa))
#define FASTGAN_CPU_KERNELS_BEGIN _Pragma("GCC push_options") \
  FASTGAN_CPU_TARGET_PUSH(FASTGAN_CPU_TARGET)
#define FASTGAN_CPU_KERNELS_END _Pragma("GCC pop_options")
#endif
#endif
