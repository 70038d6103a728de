// Shard planning: coverage of every row, balance bounds, tiny/huge/1-row variables,
// embeddings, S = 1, S > rows, determinism and the errors users see.

#include "actors/shard/shard_plan.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace troupe::actors {
namespace {

variable_spec var(std::string name, tensor_shape shape, bool embedding = false,
                  dtype t = dtype::float32) {
  return {.name = std::move(name), .type = t, .shape = shape, .embedding = embedding};
}

// Every variable is covered exactly once, row ranges in order and contiguous, shards in
// range and at most one piece of a variable per shard, the pieces' shapes right.
void expect_consistent(const shard_plan& plan) {
  int64_t total = 0;
  for (const variable_spec& v : plan.variables()) {
    auto pieces = plan.pieces_of(v.name);
    ASSERT_FALSE(pieces.empty()) << v.name;
    total += v.bytes();
    std::vector<int> shards;
    if (!pieces[0].split) {
      ASSERT_EQ(pieces.size(), 1u) << v.name;
      EXPECT_TRUE(pieces[0].shape == v.shape) << v.name;
      EXPECT_EQ(pieces[0].row_end, v.shape.rank() ? v.shape.dim(0) : 0) << v.name;
    }
    int64_t next = 0;
    for (const shard_piece& p : pieces) {
      EXPECT_EQ(p.variable, v.name);
      EXPECT_EQ(p.type, v.type);
      EXPECT_GE(p.shard, 0);
      EXPECT_LT(p.shard, plan.num_shards());
      shards.push_back(p.shard);
      if (!p.split) continue;
      EXPECT_EQ(p.row_begin, next) << v.name;
      EXPECT_GT(p.rows(), 0) << v.name;
      EXPECT_EQ(p.shape.dim(0), p.rows());
      for (int d = 1; d < v.shape.rank(); ++d) EXPECT_EQ(p.shape.dim(d), v.shape.dim(d));
      next = p.row_end;
    }
    if (pieces[0].split) {
      EXPECT_EQ(next, v.shape.dim(0)) << v.name;
    }
    std::sort(shards.begin(), shards.end());
    EXPECT_EQ(std::adjacent_find(shards.begin(), shards.end()), shards.end())
        << v.name << ": two pieces on one shard";
  }
  auto bytes = plan.shard_bytes();
  int64_t sum = 0;
  for (int64_t b : bytes) sum += b;
  EXPECT_EQ(sum, total);
  size_t on_shards = 0;
  for (int s = 0; s < plan.num_shards(); ++s) on_shards += plan.pieces_on(s).size();
  size_t all = 0;
  for (const variable_spec& v : plan.variables()) all += plan.pieces_of(v.name).size();
  EXPECT_EQ(on_shards, all);
}

TEST(shard_plan_test, whole_variables_are_balanced_within_the_largest_one) {
  std::vector<variable_spec> vars;
  int64_t largest = 0;
  for (int i = 0; i < 23; ++i) {
    int64_t rows = 1 + (i * 37) % 50;
    vars.push_back(var(str_cat("v", i), {rows, 8}));
    largest = std::max(largest, rows * 8 * 4);
  }
  for (int shards : {1, 2, 3, 4, 7}) {
    auto plan = shard_plan::make(vars, shards);
    ASSERT_TRUE(plan.has_value()) << plan.error_value().to_string();
    expect_consistent(*plan);
    auto bytes = plan->shard_bytes();
    auto [lo, hi] = std::minmax_element(bytes.begin(), bytes.end());
    EXPECT_LE(*hi - *lo, largest) << shards << " shards\n" << plan->to_string();
    for (const variable_spec& v : vars) EXPECT_FALSE(plan->pieces_of(v.name)[0].split);
  }
}

TEST(shard_plan_test, large_variables_and_embeddings_split_as_evenly_as_rows_allow) {
  // "big" is 1000 x 300 float32 = 1.2 MB > 1 MiB; "emb" is small but an embedding.
  std::vector<variable_spec> vars{var("big", {1000, 300}), var("emb", {10, 4}, true),
                                  var("bias", {300}), var("step", {}, false, dtype::int64)};
  auto plan = shard_plan::make(vars, 3);
  ASSERT_TRUE(plan.has_value()) << plan.error_value().to_string();
  expect_consistent(*plan);
  for (const char* name : {"big", "emb"}) {
    auto pieces = plan->pieces_of(name);
    ASSERT_EQ(pieces.size(), 3u) << name;
    int64_t lo = pieces[0].rows(), hi = lo;
    for (const shard_piece& p : pieces) {
      EXPECT_TRUE(p.split);
      lo = std::min(lo, p.rows());
      hi = std::max(hi, p.rows());
    }
    EXPECT_LE(hi - lo, 1) << name;
    for (int s = 0; s < 3; ++s) EXPECT_EQ(pieces[size_t(s)].shard, s);  // ranges in shard order
  }
  EXPECT_EQ(plan->pieces_of("big")[0].rows() + plan->pieces_of("big")[1].rows() +
                plan->pieces_of("big")[2].rows(),
            1000);
  // Tiny ones stay whole; the scalar has no rows.
  EXPECT_FALSE(plan->pieces_of("bias")[0].split);
  EXPECT_FALSE(plan->pieces_of("step")[0].split);
  EXPECT_EQ(plan->pieces_of("step")[0].rows(), 0);
  // Overall balance: within the largest unit (the 1200-byte bias here).
  auto bytes = plan->shard_bytes();
  auto [lo, hi] = std::minmax_element(bytes.begin(), bytes.end());
  EXPECT_LE(*hi - *lo, 1200) << plan->to_string();
  // The threshold is an option.
  auto whole = shard_plan::make(vars, 3, {.split_bytes = int64_t(2) << 20});
  ASSERT_TRUE(whole.has_value());
  EXPECT_FALSE(whole->pieces_of("big")[0].split);
  EXPECT_EQ(whole->pieces_of("emb").size(), 3u);
}

TEST(shard_plan_test, a_one_row_variable_goes_to_one_shard) {
  // 1 x 300000 float32 is above the threshold but has one row; so does a 1-row embedding.
  std::vector<variable_spec> vars{var("wide", {1, 300000}), var("one", {1, 4}, true),
                                  var("a", {100}), var("b", {50})};
  auto plan = shard_plan::make(vars, 4);
  ASSERT_TRUE(plan.has_value()) << plan.error_value().to_string();
  expect_consistent(*plan);
  ASSERT_EQ(plan->pieces_of("wide").size(), 1u);
  EXPECT_TRUE(plan->pieces_of("wide")[0].split);
  EXPECT_EQ(plan->pieces_of("wide")[0].rows(), 1);
  ASSERT_EQ(plan->pieces_of("one").size(), 1u);
  // The 1-row embedding goes to a shard other than the huge row's (least loaded).
  EXPECT_NE(plan->pieces_of("one")[0].shard, plan->pieces_of("wide")[0].shard);
  EXPECT_NE(plan->pieces_of("a")[0].shard, plan->pieces_of("wide")[0].shard);
}

TEST(shard_plan_test, one_shard_holds_everything) {
  std::vector<variable_spec> vars{var("big", {1000, 300}), var("emb", {5, 2}, true),
                                  var("b", {3})};
  auto plan = shard_plan::make(vars, 1);
  ASSERT_TRUE(plan.has_value());
  expect_consistent(*plan);
  auto on = plan->pieces_on(0);
  ASSERT_EQ(on.size(), 3u);
  EXPECT_EQ(on[0].variable, "b");  // sorted by name
  EXPECT_EQ(on[1].variable, "big");
  EXPECT_EQ(on[1].rows(), 1000);
  EXPECT_EQ(on[2].variable, "emb");
  EXPECT_TRUE(on[2].shape == (tensor_shape{5, 2}));
}

TEST(shard_plan_test, more_shards_than_rows_leaves_some_shards_without_a_piece) {
  std::vector<variable_spec> vars{var("emb", {2, 4}, true), var("e3", {3}, true)};
  auto plan = shard_plan::make(vars, 5);
  ASSERT_TRUE(plan.has_value());
  expect_consistent(*plan);
  EXPECT_EQ(plan->pieces_of("emb").size(), 2u);
  EXPECT_EQ(plan->pieces_of("e3").size(), 3u);
  // The five rows went to five different shards (each row onto the least loaded one).
  std::vector<int> used;
  for (const char* n : {"emb", "e3"})
    for (const shard_piece& p : plan->pieces_of(n)) used.push_back(p.shard);
  std::sort(used.begin(), used.end());
  EXPECT_EQ(used, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(shard_plan_test, the_plan_does_not_depend_on_the_order_given) {
  std::vector<variable_spec> vars{var("big", {1000, 300}), var("emb", {11, 4}, true),
                                  var("x", {40, 3}), var("y", {40, 3}), var("z", {7})};
  auto a = shard_plan::make(vars, 3);
  std::reverse(vars.begin(), vars.end());
  auto b = shard_plan::make(vars, 3);
  ASSERT_TRUE(a.has_value() && b.has_value());
  for (int s = 0; s < 3; ++s) EXPECT_EQ(a->pieces_on(s), b->pieces_on(s)) << s;
  EXPECT_EQ(a->to_string(), b->to_string());
}

TEST(shard_plan_test, bad_input_is_a_clear_error) {
  auto zero = shard_plan::make({var("a", {2})}, 0);
  ASSERT_FALSE(zero.has_value());
  EXPECT_EQ(zero.error_value().code(), errc::invalid_argument);
  EXPECT_NE(zero.error_value().message().find("at least 1, got 0"), std::string::npos);

  auto twice = shard_plan::make({var("a", {2}), var("a", {3})}, 2);
  ASSERT_FALSE(twice.has_value());
  EXPECT_NE(twice.error_value().message().find("variable 'a' is given twice"), std::string::npos);

  auto scalar = shard_plan::make({var("e", {}, true)}, 2);
  ASSERT_FALSE(scalar.has_value());
  EXPECT_NE(scalar.error_value().message().find("embedding 'e' must have rank >= 1"),
            std::string::npos);

  auto unnamed = shard_plan::make({var("", {2})}, 2);
  ASSERT_FALSE(unnamed.has_value());

  auto ok = shard_plan::make({var("a", {2})}, 2);
  ASSERT_TRUE(ok.has_value());
  EXPECT_TRUE(ok->pieces_of("nope").empty());
  EXPECT_EQ(ok->find("nope"), nullptr);
  ASSERT_NE(ok->find("a"), nullptr);
}

}  // namespace
}  // namespace troupe::actors
