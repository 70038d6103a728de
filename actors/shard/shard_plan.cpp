#include "actors/shard/shard_plan.hpp"

#include <algorithm>
#include <numeric>

namespace troupe::actors {

// Note [Shard planning]
// Variables of more than plan_options::split_bytes, and embeddings, are split by rows
// (dimension 0) across all S shards; the others are placed whole. Both steps put work on
// the least loaded shard, load being the bytes a shard holds so far:
//  1. Split variables, largest first (ties by name): each shard gets rows/S rows, and the
//     rows % S shards that are least loaded at that moment (ties: the lower index) get one
//     more. Ranges follow shard order (shard i holds the i-th range), so a row's shard is
//     found by binary search over the ranges; shards that get no row (S > rows) hold no
//     piece of that variable.
//  2. Whole variables, largest first (ties by name), each onto the least loaded shard
//     (ties: the lower index): the LPT rule.
// A unit (a whole variable, or one extra row) always goes to the least loaded shard, and
// the least load never decreases, so at the end the most loaded shard exceeds the least
// loaded by at most the largest unit: max(whole variable bytes, row bytes of a split
// variable). Sorting first makes the plan independent of the order variables are given.
// A split variable with no rows, and a scalar, are placed whole.

namespace {

int least_loaded(const std::vector<int64_t>& load) {
  return int(std::min_element(load.begin(), load.end()) - load.begin());
}

bool larger_first(const variable_spec* a, const variable_spec* b) {
  if (a->bytes() != b->bytes()) return a->bytes() > b->bytes();
  return a->name < b->name;
}

}  // namespace

expected<shard_plan> shard_plan::make(std::vector<variable_spec> vars, int num_shards,
                                      plan_options options) {
  TROUPE_REQUIRE(num_shards >= 1, "shard plan: the number of shards must be at least 1, got ",
                 num_shards);
  std::sort(vars.begin(), vars.end(),
            [](const variable_spec& a, const variable_spec& b) { return a.name < b.name; });
  for (size_t i = 0; i < vars.size(); ++i) {
    const variable_spec& v = vars[i];
    TROUPE_REQUIRE(!v.name.empty(), "shard plan: a variable has an empty name");
    TROUPE_REQUIRE(i == 0 || vars[i - 1].name != v.name, "shard plan: variable '", v.name,
                   "' is given twice");
    TROUPE_REQUIRE(v.type != dtype::invalid, "shard plan: variable '", v.name,
                   "' has an invalid dtype");
    TROUPE_REQUIRE(!v.embedding || v.shape.rank() >= 1, "shard plan: embedding '", v.name,
                   "' must have rank >= 1 to be split by rows, got shape ",
                   v.shape.to_string());
  }

  shard_plan plan;
  plan.num_shards_ = num_shards;
  std::vector<int64_t> load(size_t(num_shards), 0);
  std::vector<const variable_spec*> split, whole;
  for (const variable_spec& v : vars) {
    bool splits = (v.embedding || v.bytes() > options.split_bytes) && v.shape.rank() >= 1 &&
                  v.shape.dim(0) > 0;
    (splits ? split : whole).push_back(&v);
  }
  std::sort(split.begin(), split.end(), larger_first);
  std::sort(whole.begin(), whole.end(), larger_first);

  for (const variable_spec* v : split) {
    const int64_t rows = v->shape.dim(0);
    const int64_t row_bytes = v->bytes() / rows;
    std::vector<int64_t> count(size_t(num_shards), rows / num_shards);
    // The shards that take one extra row: the least loaded ones, ties by index.
    std::vector<int> order(static_cast<size_t>(num_shards));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return load[size_t(a)] < load[size_t(b)]; });
    for (int64_t i = 0; i < rows % num_shards; ++i) ++count[size_t(order[size_t(i)])];
    std::vector<shard_piece>& pieces = plan.pieces_[v->name];
    int64_t begin = 0;
    for (int s = 0; s < num_shards; ++s) {
      const int64_t n = count[size_t(s)];
      if (n == 0) continue;
      tensor_shape shape = v->shape;
      shape.set_dim(0, n);
      pieces.push_back({.variable = v->name, .shard = s, .row_begin = begin,
                        .row_end = begin + n, .split = true, .type = v->type,
                        .shape = shape});
      load[size_t(s)] += n * row_bytes;
      begin += n;
    }
  }
  for (const variable_spec* v : whole) {
    const int s = least_loaded(load);
    const int64_t rows = v->shape.rank() >= 1 ? v->shape.dim(0) : 0;
    plan.pieces_[v->name].push_back({.variable = v->name, .shard = s, .row_begin = 0,
                                     .row_end = rows, .split = false, .type = v->type,
                                     .shape = v->shape});
    load[size_t(s)] += v->bytes();
  }
  plan.vars_ = std::move(vars);
  return plan;
}

const variable_spec* shard_plan::find(std::string_view name) const {
  auto it = std::lower_bound(vars_.begin(), vars_.end(), name,
                             [](const variable_spec& v, std::string_view n) { return v.name < n; });
  return it != vars_.end() && it->name == name ? &*it : nullptr;
}

std::span<const shard_piece> shard_plan::pieces_of(std::string_view name) const {
  auto it = pieces_.find(name);
  if (it == pieces_.end()) return {};
  return it->second;
}

std::vector<shard_piece> shard_plan::pieces_on(int shard) const {
  std::vector<shard_piece> out;
  for (const auto& [name, pieces] : pieces_)  // sorted by name
    for (const shard_piece& p : pieces)
      if (p.shard == shard) out.push_back(p);
  return out;
}

std::vector<int64_t> shard_plan::shard_bytes() const {
  std::vector<int64_t> out(size_t(num_shards_), 0);
  for (const auto& [name, pieces] : pieces_)
    for (const shard_piece& p : pieces) out[size_t(p.shard)] += p.bytes();
  return out;
}

std::string shard_plan::to_string() const {
  std::vector<int64_t> bytes = shard_bytes();
  std::string out;
  for (int s = 0; s < num_shards_; ++s) {
    out += str_cat("shard ", s, " (", bytes[size_t(s)], " bytes):");
    for (const shard_piece& p : pieces_on(s)) {
      out += " " + p.variable;
      if (p.split) out += str_cat("[", p.row_begin, ",", p.row_end, ")");
    }
    out += "\n";
  }
  return out;
}

}  // namespace troupe::actors
