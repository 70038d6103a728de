# Third-party dependencies, all from Debian packages (scripts/install-deps).
find_package(Threads REQUIRED)
find_package(Eigen3 3.4 CONFIG REQUIRED)          # Eigen3::Eigen
find_package(CapnProto CONFIG REQUIRED)           # CapnProto::capnp, capnp_generate_cpp()
find_package(GTest CONFIG REQUIRED)               # GTest::gtest, GTest::gtest_main
find_package(RocksDB CONFIG REQUIRED)             # RocksDB::rocksdb-shared (checkpoints)
if(TROUPE_BUILD_BENCH)
  find_package(benchmark CONFIG REQUIRED)         # benchmark::benchmark
endif()

set(TROUPE_HAVE_CUDA OFF)
if(TROUPE_ENABLE_CUDA)
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      # Explicit architectures: "native" fails on machines without a GPU.
      set(CMAKE_CUDA_ARCHITECTURES 80 90)
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)            # CUDA::cudart
    set(TROUPE_HAVE_CUDA ON)
    message(STATUS "troupe: CUDA enabled (${CMAKE_CUDA_COMPILER}, archs ${CMAKE_CUDA_ARCHITECTURES})")
  else()
    message(STATUS "troupe: no CUDA compiler found, building without CUDA")
  endif()
endif()

# CAF 0.17 (libcaf-dev): Debian ships neither a CMake config nor a .pc file, so the
# imported target is made by hand (../shared/TOOLCHAIN.md, pitfall 2).
find_path(CAF_INCLUDE_DIR caf/all.hpp REQUIRED)
find_library(CAF_CORE_LIBRARY caf_core REQUIRED)
add_library(CAF::core UNKNOWN IMPORTED)
set_target_properties(CAF::core PROPERTIES IMPORTED_LOCATION ${CAF_CORE_LIBRARY}
  INTERFACE_INCLUDE_DIRECTORIES ${CAF_INCLUDE_DIR} INTERFACE_LINK_LIBRARIES Threads::Threads)
