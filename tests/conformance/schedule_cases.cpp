// Conformance cases of the learning-rate schedule op (runtime/train/schedules.hpp).
// The lead declares add_schedule_cases in harness.hpp and calls it with the other tables.

#include <cmath>
#include <numbers>

#include "runtime/train/schedules.hpp"
#include "tests/conformance/harness.hpp"

namespace troupe::conformance {

void add_schedule_cases(std::vector<op_case>& cases);

namespace {

// An independent reference: the schedule formulas at one step, with plain arithmetic.
double reference_rate(const train::schedule& s, double step) {
  if (step < double(s.warmup_steps))
    return s.warmup_start + (s.initial - s.warmup_start) * step / double(s.warmup_steps);
  double t = step - double(s.warmup_steps);
  if (s.kind == "exponential") {
    double p = t / double(s.decay_steps);
    if (s.staircase) p = std::floor(p);
    return s.initial * std::pow(s.decay_rate, p);
  }
  if (s.kind == "cosine") {
    double x = std::min(t, double(s.decay_steps));
    return s.initial * ((1 - s.alpha) * 0.5 * (1 + std::cos(std::numbers::pi * x / double(s.decay_steps))) +
                        s.alpha);
  }
  return s.initial;
}

void add_schedule(std::vector<op_case>& cases, std::string name, train::schedule sched) {
  cases.push_back({
      .op = "learning_rate",
      .name = std::move(name),
      .dtypes = float_types,
      .inputs = {{.shape = {9}, .type = dtype::int64, .values = {0, 1, 2, 3, 5, 9, 10, 15, 100}}},
      .build = [sched](const scope& s, const std::vector<output>& in, dtype t) {
        return std::vector<output>{train::learning_rate(s, sched, in[0], t)};
      },
      .reference = [sched](const std::vector<ref_tensor>& in, dtype) {
        ref_tensor out{in[0].shape, {}};
        for (double step : in[0].values) out.values.push_back(reference_rate(sched, step));
        return std::vector<ref_tensor>{out};
      },
  });
}

}  // namespace

void add_schedule_cases(std::vector<op_case>& cases) {
  add_schedule(cases, "learning_rate_constant", train::constant_schedule(0.25));
  add_schedule(cases, "learning_rate_exponential", train::exponential_decay(0.1, 4, 0.5));
  add_schedule(cases, "learning_rate_exponential_staircase",
               train::exponential_decay(0.1, 4, 0.5, /*staircase=*/true));
  add_schedule(cases, "learning_rate_cosine", train::cosine_decay(0.2, 10, 0.1));
  add_schedule(cases, "learning_rate_warmup_cosine",
               train::with_linear_warmup(train::cosine_decay(0.2, 10), 3, 0.02));
  add_schedule(cases, "learning_rate_warmup_staircase",
               train::with_linear_warmup(train::exponential_decay(1.0, 2, 0.9, true), 5));
}

}  // namespace troupe::conformance
