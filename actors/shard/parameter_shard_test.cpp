// The parameter-shard actor's protocol on one shard: sync steps (mean of R gradients,
// held pulls, first R-k with the late gradient dropped), async steps, save/restore, and
// every failure path with the state left unchanged.

#include "actors/shard/parameter_shard.hpp"

#include <rocksdb/db.h>

#include <fstream>

#include "actors/shard/shard_test_util.hpp"

namespace troupe::actors {
namespace {

using test::near;
using test::random_tensor;

// One shard holding "w" [4,3] (whole), "emb" [6,2] (an embedding: one piece of all its
// rows) and "n" int64 [2] (not trained).
class parameter_shard_test : public test::shard_fixture {
 protected:
  void SetUp() override {
    shard_fixture::SetUp();
    auto p = shard_plan::make(vars_, 1);
    ASSERT_TRUE(p.has_value());
    plan_ = std::make_shared<shard_plan>(std::move(*p));
  }

  shard_options options(const std::string& rule, int replicas = 1, int backups = 0,
                        update_mode mode = update_mode::sync) {
    return {.index = 0, .pieces = plan_->pieces_on(0),
            .optimizer = {.rule = rule, .learning_rate = 0.1}, .mode = mode,
            .replicas = replicas, .backup_replicas = backups};
  }

  std::vector<piece_value> initial() const {
    return {{"w", random_tensor({4, 3}, 1)},
            {"emb", random_tensor({6, 2}, 2)},
            {"n", tensor::from_vector<int64_t>({2}, {7, 8})}};
  }

  parameter_shard_actor start(shard_options opts) {
    auto a = spawn(std::move(opts));
    auto s = ask<int64_t>(a, init_atom::value, initial());
    EXPECT_TRUE(s.has_value()) << s.error_value().to_string();
    return a;
  }

  test::reference_model reference(const std::string& rule) {
    return test::reference_model(vars_, initial(), {.rule = rule, .learning_rate = 0.1});
  }

  // A replica's gradients: dense for w, sparse for emb.
  static std::vector<piece_gradient> grads(uint64_t seed, std::vector<int64_t> rows) {
    const int64_t k = int64_t(rows.size());
    return {{.name = "w", .dense = random_tensor({4, 3}, seed)},
            {.name = "emb",
             .indices = tensor::from_vector<int64_t>({k}, rows),
             .values = random_tensor({k, 2}, seed + 100)}};
  }
  static std::vector<variable_gradient> whole(const std::vector<piece_gradient>& g) {
    std::vector<variable_gradient> out;
    for (const piece_gradient& p : g) out.push_back({p.name, p.dense, p.indices, p.values});
    return out;
  }
  // The mean of replicas' gradients as the reference applies it: dense w averaged, emb's
  // rows concatenated with their values divided.
  static std::vector<variable_gradient> mean(const std::vector<std::vector<piece_gradient>>& gs) {
    const float n = float(gs.size());
    tensor w(dtype::float32, {4, 3});
    std::vector<int64_t> rows;
    std::vector<float> values;
    for (const auto& g : gs) {
      w.flat<float>() += g[0].dense.flat<float>();
      for (int64_t r : g[1].indices.values<int64_t>()) rows.push_back(r);
      for (float v : g[1].values.values<float>()) values.push_back(v);
    }
    w.flat<float>() /= n;
    for (float& v : values) v /= n;
    const int64_t k = int64_t(rows.size());
    return {{.name = "w", .dense = w},
            {.name = "emb",
             .indices = tensor::from_vector<int64_t>({k}, rows),
             .values = tensor::from_vector<float>({k, 2}, values)}};
  }

  void expect_values(const parameter_shard_actor& a, test::reference_model& ref, int64_t step) {
    auto got = ask<shard_values>(a, pull_atom::value, step, std::vector<std::string>{"w", "emb"});
    ASSERT_TRUE(got.has_value()) << got.error_value().to_string();
    EXPECT_EQ(got->step, step);
    ASSERT_EQ(got->values.size(), 2u);
    EXPECT_TRUE(near(got->values[0], ref.value("w")));
    EXPECT_TRUE(near(got->values[1], ref.value("emb")));
  }

  std::vector<tensor> values_of(const parameter_shard_actor& a) {
    auto got = ask<shard_values>(a, pull_atom::value, int64_t(0), std::vector<std::string>{});
    EXPECT_TRUE(got.has_value()) << got.error_value().to_string();
    return got ? got->values : std::vector<tensor>{};
  }

  shard_stats stats_of(const parameter_shard_actor& a) {
    auto s = ask<shard_stats>(a, stats_atom::value);
    EXPECT_TRUE(s.has_value());
    return s ? *s : shard_stats{};
  }

  std::vector<variable_spec> vars_{
      {.name = "w", .type = dtype::float32, .shape = {4, 3}},
      {.name = "emb", .type = dtype::float32, .shape = {6, 2}, .embedding = true},
      {.name = "n", .type = dtype::int64, .shape = {2}}};
  std::shared_ptr<shard_plan> plan_;
};

bool identical(const std::vector<tensor>& a, const std::vector<tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!a[i].identical(b[i])) return false;
  return true;
}

// ---------------------------------------------------------------- steps

TEST_F(parameter_shard_test, sync_with_two_replicas_applies_the_mean_once_per_step) {
  for (const char* rule : {"sgd", "adam"}) {
    SCOPED_TRACE(rule);
    auto a = start(options(rule, 2));
    auto ref = reference(rule);
    for (int64_t step = 0; step < 3; ++step) {
      auto g0 = grads(uint64_t(10 * step + 1), {1, 3, 1});
      auto g1 = grads(uint64_t(10 * step + 2), {5});
      // The pull for the next step is sent first and held until the step is applied.
      auto pull = self_->request(a, std::chrono::seconds(10), pull_atom::value, step + 1,
                                 std::vector<std::string>{"w", "emb"});
      auto rows = self_->request(a, std::chrono::seconds(10), pull_rows_atom::value, step + 1,
                                 std::string("emb"), tensor::from_vector<int64_t>({2}, {5, 1}));
      auto ack1 = ask<push_ack>(a, push_atom::value, step, int32_t(1), g1);
      ASSERT_TRUE(ack1.has_value()) << ack1.error_value().to_string();
      EXPECT_EQ(ack1->outcome, push_outcome::buffered);
      EXPECT_EQ(ack1->step, step);
      auto ack0 = ask<push_ack>(a, push_atom::value, step, int32_t(0), g0);
      ASSERT_TRUE(ack0.has_value()) << ack0.error_value().to_string();
      EXPECT_EQ(ack0->outcome, push_outcome::applied);
      EXPECT_EQ(ack0->step, step + 1);
      ref.step(mean({g0, g1}));
      shard_values got;
      pull.receive([&](shard_values& v) { got = std::move(v); },
                   [&](caf::error& e) { FAIL() << from_caf(e).to_string(); });
      EXPECT_EQ(got.step, step + 1);
      ASSERT_EQ(got.values.size(), 2u);
      EXPECT_TRUE(near(got.values[0], ref.value("w")));
      EXPECT_TRUE(near(got.values[1], ref.value("emb")));
      tensor emb = ref.value("emb"), got_rows;
      rows.receive([&](tensor& t) { got_rows = t; },
                   [&](caf::error& e) { FAIL() << from_caf(e).to_string(); });
      EXPECT_TRUE(near(got_rows, tensor::from_vector<float>(
                                     {2, 2}, {emb.data<float>()[10], emb.data<float>()[11],
                                              emb.data<float>()[2], emb.data<float>()[3]})));
    }
    shard_stats s = stats_of(a);
    EXPECT_EQ(s.step, 3);
    EXPECT_EQ(s.applied, 3);
    EXPECT_EQ(s.accepted, 6);
    EXPECT_EQ(s.dropped, 0);
    EXPECT_EQ(s.buffered, 0);
    EXPECT_EQ(s.pieces, (std::vector<std::string>{"emb", "n", "w"}));
  }
}

TEST_F(parameter_shard_test, first_r_minus_k_applies_without_the_late_gradient_and_drops_it) {
  auto a = start(options("adam", 3, 1));
  auto ref = reference("adam");
  auto g0 = grads(1, {0, 2}), g1 = grads(2, {4}), g2 = grads(3, {2, 5});
  auto ack2 = ask<push_ack>(a, push_atom::value, int64_t(0), int32_t(2), g2);
  ASSERT_TRUE(ack2.has_value());
  EXPECT_EQ(ack2->outcome, push_outcome::buffered);
  auto ack0 = ask<push_ack>(a, push_atom::value, int64_t(0), int32_t(0), g0);
  ASSERT_TRUE(ack0.has_value());
  EXPECT_EQ(ack0->outcome, push_outcome::applied);
  auto late = ask<push_ack>(a, push_atom::value, int64_t(0), int32_t(1), g1);
  ASSERT_TRUE(late.has_value()) << late.error_value().to_string();
  EXPECT_EQ(late->outcome, push_outcome::dropped);
  EXPECT_EQ(late->step, 1);
  ref.step(mean({g0, g2}));  // replica order, without replica 1
  expect_values(a, ref, 1);
  shard_stats s = stats_of(a);
  EXPECT_EQ(s.dropped, 1);
  EXPECT_EQ(s.applied, 1);
  EXPECT_EQ(s.accepted, 2);
}

TEST_F(parameter_shard_test, async_applies_every_push_alone_and_pulls_do_not_wait) {
  auto a = start(options("adam", 2, 0, update_mode::async));
  auto ref = reference("adam");
  // A pull for a step far ahead is answered at once.
  auto early = ask<shard_values>(a, pull_atom::value, int64_t(100), std::vector<std::string>{"w"});
  ASSERT_TRUE(early.has_value()) << early.error_value().to_string();
  EXPECT_EQ(early->step, 0);
  auto g0 = grads(1, {0, 0}), g1 = grads(2, {3});
  auto ack0 = ask<push_ack>(a, push_atom::value, int64_t(0), int32_t(0), g0);
  auto ack1 = ask<push_ack>(a, push_atom::value, int64_t(0), int32_t(1), g1);
  ASSERT_TRUE(ack0.has_value() && ack1.has_value());
  EXPECT_EQ(ack0->outcome, push_outcome::applied);
  EXPECT_EQ(ack0->step, 1);
  EXPECT_EQ(ack1->outcome, push_outcome::applied);
  EXPECT_EQ(ack1->step, 2);
  ref.step(whole(g0));
  ref.step(whole(g1));
  expect_values(a, ref, 2);
  EXPECT_EQ(stats_of(a).applied, 2);
}

TEST_F(parameter_shard_test, pull_rows_gathers_rows_in_the_order_asked) {
  auto a = start(options("sgd"));
  tensor emb = initial()[1].value;
  auto rows = ask<tensor>(a, pull_rows_atom::value, int64_t(0), std::string("emb"),
                          tensor::from_vector<int32_t>({2, 2}, {5, 0, 5, 2}));
  ASSERT_TRUE(rows.has_value()) << rows.error_value().to_string();
  ASSERT_TRUE(rows->shape() == (tensor_shape{2, 2, 2}));
  const float* e = emb.data<float>();
  const float* r = rows->data<float>();
  const int64_t want[] = {5, 0, 5, 2};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(r[2 * i], e[2 * want[i]]);
    EXPECT_EQ(r[2 * i + 1], e[2 * want[i] + 1]);
  }
}

TEST_F(parameter_shard_test, assign_replaces_values_and_keeps_the_step) {
  auto a = start(options("sgd"));
  auto ack = ask<push_ack>(a, push_atom::value, int64_t(0), int32_t(0), grads(1, {1}));
  ASSERT_TRUE(ack.has_value());
  tensor w = random_tensor({4, 3}, 77);
  auto s = ask<int64_t>(a, assign_atom::value, std::vector<piece_value>{{"w", w}});
  ASSERT_TRUE(s.has_value()) << s.error_value().to_string();
  EXPECT_EQ(*s, 1);
  auto got = ask<shard_values>(a, pull_atom::value, int64_t(1), std::vector<std::string>{"w"});
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(got->values[0].identical(w));
}

TEST_F(parameter_shard_test, save_and_restore_round_trip_pieces_slots_and_counts) {
  auto a = start(options("adam"));
  for (int64_t step = 0; step < 2; ++step)
    ASSERT_TRUE(ask<push_ack>(a, push_atom::value, step, int32_t(0),
                              grads(uint64_t(step + 1), {1, 4}))
                    .has_value());
  const std::string ckpt = (dir_ / "ckpt").string();
  auto id = ask<int64_t>(a, save_atom::value, ckpt, int64_t(2));
  ASSERT_TRUE(id.has_value()) << id.error_value().to_string();
  EXPECT_EQ(*id, 1);
  std::vector<tensor> saved = values_of(a);
  // Step 2, then back to the checkpoint and step 2 again: the same result, so the slots
  // and Adam's update counts came back too.
  auto g2 = grads(9, {0, 4, 4});
  ASSERT_TRUE(ask<push_ack>(a, push_atom::value, int64_t(2), int32_t(0), g2).has_value());
  std::vector<tensor> after = values_of(a);
  EXPECT_FALSE(identical(after, saved));
  auto step = ask<int64_t>(a, restore_atom::value, ckpt);
  ASSERT_TRUE(step.has_value()) << step.error_value().to_string();
  EXPECT_EQ(*step, 2);
  EXPECT_TRUE(identical(values_of(a), saved));
  EXPECT_EQ(stats_of(a).step, 2);
  ASSERT_TRUE(ask<push_ack>(a, push_atom::value, int64_t(2), int32_t(0), g2).has_value());
  EXPECT_TRUE(identical(values_of(a), after));
  // A fresh shard restores it without init.
  auto b = spawn(options("adam"));
  auto fresh = ask<int64_t>(b, restore_atom::value, ckpt);
  ASSERT_TRUE(fresh.has_value()) << fresh.error_value().to_string();
  EXPECT_EQ(*fresh, 2);
  ASSERT_TRUE(ask<push_ack>(b, push_atom::value, int64_t(2), int32_t(0), g2).has_value());
  EXPECT_TRUE(identical(values_of(b), after));
}

// ---------------------------------------------------------------- failures

// Every failing request below leaves the values, the step and the stats' counters (but
// `rejected`) as they were; a valid push afterwards still works.
TEST_F(parameter_shard_test, unknown_variables_are_not_found) {
  auto a = start(options("sgd"));
  std::vector<tensor> before = values_of(a);
  auto push = ask<push_ack>(a, push_atom::value, int64_t(0), int32_t(0),
                            std::vector<piece_gradient>{
                                {.name = "w", .dense = random_tensor({4, 3}, 1)},
                                {.name = "nope", .dense = random_tensor({4, 3}, 1)}});
  ASSERT_FALSE(push.has_value());
  EXPECT_EQ(push.error_value().code(), errc::not_found);
  EXPECT_TRUE(test::contains(push.error_value().message(),
                             "parameter shard 0: push for step 0 from replica 0: no piece of "
                             "variable 'nope' here (it holds 'emb', 'n', 'w')"))
      << push.error_value().message();
  auto pull = ask<shard_values>(a, pull_atom::value, int64_t(0), std::vector<std::string>{"nope"});
  ASSERT_FALSE(pull.has_value());
  EXPECT_EQ(pull.error_value().code(), errc::not_found);
  auto rows = ask<tensor>(a, pull_rows_atom::value, int64_t(0), std::string("nope"),
                          tensor::from_vector<int64_t>({1}, {0}));
  EXPECT_EQ(rows.has_value() ? errc::ok : rows.error_value().code(), errc::not_found);
  auto init = ask<int64_t>(a, init_atom::value,
                           std::vector<piece_value>{{"nope", random_tensor({1}, 1)}});
  EXPECT_EQ(init.has_value() ? errc::ok : init.error_value().code(), errc::not_found);
  EXPECT_TRUE(identical(values_of(a), before));
  shard_stats s = stats_of(a);
  EXPECT_EQ(s.rejected, 1);
  EXPECT_EQ(s.step, 0);
}

TEST_F(parameter_shard_test, gradients_of_the_wrong_dtype_or_shape_change_nothing) {
  auto a = start(options("adam", 2));
  std::vector<tensor> before = values_of(a);
  struct bad {
    std::vector<piece_gradient> grads;
    std::string message;
  };
  std::vector<bad> cases{
      {{{.name = "w", .dense = random_tensor({4, 3}, 1, dtype::float64)}},
       "the gradient of 'w' must be float32 [4,3], got float64 [4,3]"},
      {{{.name = "w", .dense = random_tensor({3, 4}, 1)}},
       "the gradient of 'w' must be float32 [4,3], got float32 [3,4]"},
      {{{.name = "emb",
         .indices = tensor::from_vector<int64_t>({2}, {0, 1}),
         .values = random_tensor({2, 3}, 1)}},
       "values must be float32 [2,2] (one row per index), got float32 [2,3]"},
      {{{.name = "emb",
         .indices = tensor::from_vector<float>({1}, {0}),
         .values = random_tensor({1, 2}, 1)}},
       "indices must be an int32 or int64 vector, got float32 [1]"},
      {{{.name = "n", .dense = tensor::from_vector<int64_t>({2}, {1, 1})}},
       "the variable is int64; only float32 and float64 variables are trained"},
      {{{.name = "w",
         .dense = random_tensor({4, 3}, 1),
         .indices = tensor::from_vector<int64_t>({1}, {0}),
         .values = random_tensor({1, 3}, 1)}},
       "must be either dense or sparse"},
      {{{.name = "w", .dense = random_tensor({4, 3}, 1)},
        {.name = "w", .dense = random_tensor({4, 3}, 2)}},
       "the gradient of 'w' is given twice"},
  };
  for (const bad& c : cases) {
    auto r = ask<push_ack>(a, push_atom::value, int64_t(0), int32_t(0), c.grads);
    ASSERT_FALSE(r.has_value()) << c.message;
    EXPECT_EQ(r.error_value().code(), errc::invalid_argument) << r.error_value().to_string();
    EXPECT_TRUE(test::contains(r.error_value().message(), c.message))
        << r.error_value().message();
  }
  EXPECT_TRUE(identical(values_of(a), before));
  shard_stats s = stats_of(a);
  EXPECT_EQ(s.rejected, int64_t(cases.size()));
  EXPECT_EQ(s.buffered, 0);  // nothing kept for replica 0: it may push for step 0 now
  auto ok = ask<push_ack>(a, push_atom::value, int64_t(0), int32_t(0), grads(1, {0}));
  ASSERT_TRUE(ok.has_value()) << ok.error_value().to_string();
  EXPECT_EQ(ok->outcome, push_outcome::buffered);
}

TEST_F(parameter_shard_test, a_row_index_out_of_range_applies_nothing) {
  auto a = start(options("sgd"));
  std::vector<tensor> before = values_of(a);
  for (int64_t bad : {int64_t(6), int64_t(-1)}) {
    // The valid dense gradient of w comes first; it is not applied either.
    auto g = grads(1, {2, bad, 3});
    auto r = ask<push_ack>(a, push_atom::value, int64_t(0), int32_t(0), g);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error_value().code(), errc::invalid_argument);
    EXPECT_TRUE(test::contains(r.error_value().message(),
                               str_cat("row index ", bad, " at position 1 of the sparse gradient "
                                       "of 'emb' rows [0, 6) is out of range: the piece has 6 rows")))
        << r.error_value().message();
  }
  EXPECT_TRUE(identical(values_of(a), before));
  EXPECT_EQ(stats_of(a).step, 0);
  auto rows = ask<tensor>(a, pull_rows_atom::value, int64_t(0), std::string("emb"),
                          tensor::from_vector<int64_t>({2}, {1, 6}));
  ASSERT_FALSE(rows.has_value());
  EXPECT_TRUE(test::contains(rows.error_value().message(), "row index 6 at position 1"));
}

TEST_F(parameter_shard_test, a_replica_pushing_twice_for_one_step_is_refused) {
  auto a = start(options("sgd", 2));
  auto ref = reference("sgd");
  auto g0 = grads(1, {1}), again = grads(2, {2}), g1 = grads(3, {3});
  ASSERT_TRUE(ask<push_ack>(a, push_atom::value, int64_t(0), int32_t(0), g0).has_value());
  auto twice = ask<push_ack>(a, push_atom::value, int64_t(0), int32_t(0), again);
  ASSERT_FALSE(twice.has_value());
  EXPECT_EQ(twice.error_value().code(), errc::already_exists);
  EXPECT_TRUE(test::contains(twice.error_value().message(), "replica 0 already pushed for step 0"));
  auto last = ask<push_ack>(a, push_atom::value, int64_t(0), int32_t(1), g1);
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->outcome, push_outcome::applied);
  ref.step(mean({g0, g1}));  // the second push of replica 0 was not kept
  expect_values(a, ref, 1);
}

TEST_F(parameter_shard_test, a_push_for_an_applied_step_is_dropped_and_counted) {
  auto a = start(options("sgd"));
  ASSERT_TRUE(ask<push_ack>(a, push_atom::value, int64_t(0), int32_t(0), grads(1, {1})).has_value());
  std::vector<tensor> after = values_of(a);
  auto late = ask<push_ack>(a, push_atom::value, int64_t(0), int32_t(0), grads(2, {2}));
  ASSERT_TRUE(late.has_value()) << late.error_value().to_string();
  EXPECT_EQ(late->outcome, push_outcome::dropped);
  EXPECT_EQ(late->step, 1);
  EXPECT_TRUE(identical(values_of(a), after));
  EXPECT_EQ(stats_of(a).dropped, 1);
  // A step ahead of the shard's is an error, not a drop.
  auto ahead = ask<push_ack>(a, push_atom::value, int64_t(5), int32_t(0), grads(2, {2}));
  ASSERT_FALSE(ahead.has_value());
  EXPECT_EQ(ahead.error_value().code(), errc::failed_precondition);
  EXPECT_TRUE(test::contains(ahead.error_value().message(),
                             "pushed for step 5 but the shard gathers step 1: pull step 5 first"));
  // So is a replica outside [0, R).
  auto stranger = ask<push_ack>(a, push_atom::value, int64_t(1), int32_t(1), grads(2, {2}));
  ASSERT_FALSE(stranger.has_value());
  EXPECT_EQ(stranger.error_value().code(), errc::invalid_argument);
  EXPECT_TRUE(test::contains(stranger.error_value().message(), "replica 1 is outside [0, 1)"));
  EXPECT_TRUE(identical(values_of(a), after));
}

TEST_F(parameter_shard_test, restore_failures_are_clear_and_leave_the_state_unchanged) {
  auto a = start(options("adam"));
  ASSERT_TRUE(ask<push_ack>(a, push_atom::value, int64_t(0), int32_t(0), grads(1, {1})).has_value());
  const std::string bad = (dir_ / "bad").string();
  ASSERT_TRUE(ask<int64_t>(a, save_atom::value, bad, int64_t(1)).has_value());
  ASSERT_TRUE(ask<push_ack>(a, push_atom::value, int64_t(1), int32_t(0), grads(2, {2})).has_value());
  std::vector<tensor> before = values_of(a);

  auto expect_failure = [&](const std::string& dir, errc code, const std::string& part) {
    auto r = ask<int64_t>(a, restore_atom::value, dir);
    ASSERT_FALSE(r.has_value()) << dir;
    EXPECT_EQ(r.error_value().code(), code) << r.error_value().to_string();
    EXPECT_TRUE(test::contains(r.error_value().message(), part)) << r.error_value().message();
    EXPECT_TRUE(test::contains(r.error_value().message(), "parameter shard 0: restore from "));
    EXPECT_TRUE(identical(values_of(a), before));
    EXPECT_EQ(stats_of(a).step, 2);
  };
  // A directory that does not exist (and is not created).
  expect_failure((dir_ / "missing").string(), errc::not_found, "no checkpoint directory");
  EXPECT_FALSE(std::filesystem::exists(dir_ / "missing"));
  // A directory without a store.
  std::filesystem::create_directories(dir_ / "junk");
  std::ofstream(dir_ / "junk" / "x.txt") << "not a checkpoint";
  expect_failure((dir_ / "junk").string(), errc::invalid_argument, "junk");
  // Another shard's checkpoint: its pieces are not ours.
  {
    auto other_plan = shard_plan::make({{.name = "other", .type = dtype::float32, .shape = {3}}}, 1);
    ASSERT_TRUE(other_plan.has_value());
    shard_options o = options("adam");
    o.pieces = other_plan->pieces_on(0);
    auto b = spawn(o);
    ASSERT_TRUE(ask<int64_t>(b, init_atom::value,
                             std::vector<piece_value>{{"other", random_tensor({3}, 5)}})
                    .has_value());
    ASSERT_TRUE(ask<int64_t>(b, save_atom::value, (dir_ / "other").string(), int64_t(7)).has_value());
    expect_failure((dir_ / "other").string(), errc::not_found, "'w'");
  }
  // A damaged checkpoint (its only one): a tensor's bytes cut short.
  {
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::Options(), bad, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "t/0000000000000001/w", "short").ok());
  }
  ::testing::internal::CaptureStderr();  // the store reports the damage there too
  expect_failure(bad, errc::data_loss, "no good checkpoint");
  ::testing::internal::GetCapturedStderr();
}

TEST_F(parameter_shard_test, requests_before_init_fail_with_a_precondition) {
  auto a = spawn(options("sgd"));
  auto pull = ask<shard_values>(a, pull_atom::value, int64_t(0), std::vector<std::string>{"w"});
  ASSERT_FALSE(pull.has_value());
  EXPECT_EQ(pull.error_value().code(), errc::failed_precondition);
  EXPECT_TRUE(test::contains(pull.error_value().message(), "init or restore first"));
  auto push = ask<push_ack>(a, push_atom::value, int64_t(0), int32_t(0), grads(1, {1}));
  EXPECT_EQ(push.has_value() ? errc::ok : push.error_value().code(), errc::failed_precondition);
  auto save = ask<int64_t>(a, save_atom::value, (dir_ / "x").string(), int64_t(0));
  EXPECT_EQ(save.has_value() ? errc::ok : save.error_value().code(), errc::failed_precondition);
  // init must give every piece, each with its dtype and shape.
  auto partial = ask<int64_t>(a, init_atom::value,
                              std::vector<piece_value>{{"w", random_tensor({4, 3}, 1)}});
  ASSERT_FALSE(partial.has_value());
  EXPECT_TRUE(test::contains(partial.error_value().message(), "missing: 'emb' rows [0, 6), 'n'"));
  auto wrong = initial();
  wrong[0].value = random_tensor({4, 4}, 1);
  auto shaped = ask<int64_t>(a, init_atom::value, wrong);
  ASSERT_FALSE(shaped.has_value());
  EXPECT_TRUE(test::contains(shaped.error_value().message(),
                             "the value of piece 'w' must be float32 [4,3], got float32 [4,4]"));
}

TEST_F(parameter_shard_test, bad_options_are_refused_before_spawning) {
  auto spawn_with = [&](shard_options o) {
    return spawn_parameter_shard(sys_, test::the_platform(), std::move(o));
  };
  shard_options o = options("sgd", 2, 2);
  auto r = spawn_with(o);
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(test::contains(r.error_value().message(), "backup_replicas must be in [0, replicas)"));
  o = options("sgd", 0);
  EXPECT_FALSE(spawn_with(o).has_value());
  o = options("rmsprop");
  r = spawn_with(o);
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(test::contains(r.error_value().message(), "unknown rule 'rmsprop'"));
  o = options("adam");
  o.optimizer.params["beta3"] = 1;
  r = spawn_with(o);
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(test::contains(r.error_value().message(),
                             "rule 'adam' has no parameter 'beta3' (it has: beta1, beta2, epsilon)"));
  o = options("sgd");
  o.pieces[0].shard = 3;
  EXPECT_FALSE(spawn_with(o).has_value());
}

TEST_F(parameter_shard_test, a_killed_shard_answers_its_held_pulls_with_unavailable) {
  auto a = start(options("sgd"));
  auto held = self_->request(a, std::chrono::seconds(10), pull_atom::value, int64_t(3),
                             std::vector<std::string>{"w"});
  // The pull is held: the stats request sent after it is answered first.
  EXPECT_EQ(stats_of(a).step, 0);
  self_->send_exit(a, caf::exit_reason::kill);
  error seen;
  held.receive([&](shard_values&) { ADD_FAILURE() << "a held pull was answered"; },
               [&](caf::error& e) { seen = from_caf(e); });
  EXPECT_EQ(seen.code(), errc::unavailable) << seen.to_string();
}

}  // namespace
}  // namespace troupe::actors
