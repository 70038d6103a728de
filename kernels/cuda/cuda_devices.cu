#include <cuda_runtime.h>

#include "kernels/cuda/cuda_runtime_shim.hpp"

namespace troupe::cuda::shim {
namespace {

__global__ void add_kernel(const float* a, const float* b, float* c, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) c[i] = a[i] + b[i];
}

std::string describe(cudaError_t e, const char* what) {
  return e == cudaSuccess ? std::string() : std::string(what) + ": " + cudaGetErrorString(e);
}

}  // namespace

int device_count() {
  int n = 0;
  // Without a driver this returns cudaErrorInsufficientDriver and leaves n untouched.
  if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;
  return n;
}

std::string add_vectors(int device, const float* a, const float* b, float* c, int n) {
  std::string err = describe(cudaSetDevice(device), "cudaSetDevice");
  if (!err.empty()) return err;
  size_t bytes = size_t(n) * sizeof(float);
  float *da = nullptr, *db = nullptr, *dc = nullptr;
  err = describe(cudaMalloc(&da, bytes), "cudaMalloc");
  if (err.empty()) err = describe(cudaMalloc(&db, bytes), "cudaMalloc");
  if (err.empty()) err = describe(cudaMalloc(&dc, bytes), "cudaMalloc");
  if (err.empty()) err = describe(cudaMemcpy(da, a, bytes, cudaMemcpyHostToDevice), "copy to device");
  if (err.empty()) err = describe(cudaMemcpy(db, b, bytes, cudaMemcpyHostToDevice), "copy to device");
  if (err.empty()) {
    add_kernel<<<(n + 255) / 256, 256>>>(da, db, dc, n);
    err = describe(cudaGetLastError(), "kernel launch");
  }
  if (err.empty()) err = describe(cudaMemcpy(c, dc, bytes, cudaMemcpyDeviceToHost), "copy to host");
  cudaFree(da);
  cudaFree(db);
  cudaFree(dc);
  return err;
}

}  // namespace troupe::cuda::shim
