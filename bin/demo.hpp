#pragma once

#include <string>

#include "runtime/core/expected.hpp"

namespace troupe::cli {

struct demo_options {
  std::string data = "data/letter_recognition.csv";
  int threads = 0;
};

/// The main job of `make demo`: a nearest-neighbour classifier for the letter-recognition
/// data computed as one dataflow graph (distances by matmul, argmax, gather, accuracy),
/// on the split of data/README.md (row i is a test row when i % 5 == 0).
/// Prints what it does and the test accuracy.
error run_demo(const demo_options& opts);

}  // namespace troupe::cli
