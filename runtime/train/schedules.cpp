#include "runtime/train/schedules.hpp"

namespace troupe::train {

schedule constant_schedule(double lr) { return {.kind = "constant", .initial = lr}; }

schedule exponential_decay(double initial, int64_t decay_steps, double decay_rate,
                           bool staircase) {
  return {.kind = "exponential",
          .initial = initial,
          .decay_steps = decay_steps,
          .decay_rate = decay_rate,
          .staircase = staircase};
}

schedule cosine_decay(double initial, int64_t decay_steps, double alpha) {
  return {.kind = "cosine", .initial = initial, .decay_steps = decay_steps, .alpha = alpha};
}

schedule with_linear_warmup(schedule s, int64_t warmup_steps, double start) {
  s.warmup_steps = warmup_steps;
  s.warmup_start = start;
  return s;
}

output learning_rate(const scope& s, const schedule& sched, output step, dtype t) {
  return s.add1("learning_rate", {step},
                {{"dtype", t},
                 {"schedule", sched.kind},
                 {"initial", sched.initial},
                 {"decay_steps", sched.decay_steps},
                 {"decay_rate", sched.decay_rate},
                 {"staircase", sched.staircase},
                 {"alpha", sched.alpha},
                 {"warmup_steps", sched.warmup_steps},
                 {"warmup_start", sched.warmup_start}});
}

}  // namespace troupe::train
