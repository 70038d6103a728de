#pragma once

#include <cstdint>
#include <string>

#include "runtime/graph/scope.hpp"

/// Learning-rate schedules: a description built with the functions below, turned into one
/// `learning_rate` node (runtime/ops/optimizer_ops.hpp) evaluated at an int64 step, usually
/// the global step's value (make_global_step in runtime/train/optimizer.hpp). The result
/// is a learning rate to give an optimizer. With t the step:
///
///   constant:           initial
///   exponential_decay:  initial * decay_rate^(t / decay_steps); with staircase the
///                       exponent is floor(t / decay_steps)       (tf.train.exponential_decay)
///   cosine_decay:       initial * ((1 - alpha) * 0.5 * (1 + cos(pi * min(t, decay_steps) /
///                       decay_steps)) + alpha)                    (tf.train.cosine_decay)
///   with_linear_warmup: for t < warmup_steps, warmup_start + (initial - warmup_start) *
///                       t / warmup_steps; from then on the schedule above evaluated at
///                       t - warmup_steps, so it starts from `initial` after the warm-up.
///
/// A negative step is a run-time error.
namespace troupe::train {

/// The attributes of a learning_rate node.
struct schedule {
  std::string kind = "constant";  ///< "constant", "exponential" or "cosine"
  double initial = 0.0;           ///< the learning rate the schedule starts from
  int64_t decay_steps = 1;        ///< exponential, cosine
  double decay_rate = 1.0;        ///< exponential
  bool staircase = false;         ///< exponential
  double alpha = 0.0;             ///< cosine: the final fraction of `initial`
  int64_t warmup_steps = 0;       ///< 0: no warm-up
  double warmup_start = 0.0;      ///< the learning rate at step 0 of the warm-up
};

/// The same learning rate at every step.
schedule constant_schedule(double lr);
schedule exponential_decay(double initial, int64_t decay_steps, double decay_rate,
                           bool staircase = false);
schedule cosine_decay(double initial, int64_t decay_steps, double alpha = 0.0);
/// `s` preceded by a linear warm-up from `start` to s.initial over `warmup_steps` steps.
schedule with_linear_warmup(schedule s, int64_t warmup_steps, double start = 0.0);

/// The schedule's learning rate at `step` (int64, any shape: elementwise), of dtype t
/// (float32 or float64). Bad attributes (decay_steps < 1, ...) are a build error.
output learning_rate(const scope& s, const schedule& sched, output step,
                     dtype t = dtype::float32);

}  // namespace troupe::train
