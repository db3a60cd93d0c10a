{
  "targets": [
    {
      "target_name": "avgk",
      "sources": [
        "native/addon.cc",
        "native/binding/common.cc",
        "native/binding/elementwise.cc",
        "native/binding/reduce.cc",
        "native/binding/gemm.cc",
        "native/binding/conv.cc",
        "native/binding/pool.cc",
        "native/binding/batchnorm.cc",
        "native/binding/softmax_loss.cc",
        "native/binding/select.cc",
        "native/binding/optim.cc",
        "native/binding/threads.cc",
        "native/kernels/elementwise.cc",
        "native/kernels/reduce.cc",
        "native/kernels/softmax.cc",
        "native/kernels/losses.cc",
        "native/kernels/select.cc",
        "native/kernels/optim.cc",
        "native/kernels/memory.cc",
        "native/kernels/cpu_features.cc",
        "native/kernels/conv.cc",
        "native/kernels/pool.cc",
        "native/kernels/batchnorm.cc",
        "native/kernels/gemm/gemm.cc",
        "native/kernels/gemm/gemm_kernel_avx2.cc",
        "native/kernels/gemm/gemm_kernel_avx512.cc",
        "native/kernels/gemm/gemm_kernel_portable.cc",
        "native/kernels/gemm/gemm_small.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++1y", "-std=gnu++14"],
      "cflags": ["-O3", "-fopenmp", "-ffp-contract=fast", "-fno-math-errno", "-fno-trapping-math"],
      "cflags_cc": ["-O3", "-std=c++17", "-fopenmp", "-ffp-contract=fast", "-fno-math-errno", "-fno-trapping-math", "-fexceptions"],
      "ldflags": ["-fopenmp"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "OTHER_CFLAGS": ["-O3", "-ffp-contract=fast"]
      },
      "msvs_settings": {
        "VCCLCompilerTool": { "ExceptionHandling": 1, "AdditionalOptions": ["/openmp", "/O2"] }
      }
    }
  ]
}
