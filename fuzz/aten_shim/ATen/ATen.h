// Stands in for libtorch's <ATen/ATen.h> in the clang fuzz build of fuzz_plan (fuzz/CMakeLists.txt
// puts this folder first on its include path). clang 14 cannot compile the full header of libtorch
// 1.13 in C++20 mode against libstdc++ 12: ATen/core/List.h destroys a std::vector<IValue> while
// IValue is still incomplete, which C++20's constexpr std::vector makes an error. Tensors, their
// methods and at::tensor() do not include it, and they are all that prune/surgery.cpp and the fuzzer
// use; a new ATen function there needs its ATen/ops/<name>.h here.
#pragma once
#include <ATen/core/Tensor.h>
#include <ATen/ops/tensor.h>
