// The shard client: splitting and assembling over a plan, row routing, and sharded
// training against one session: the same updates to 1e-6 for SGD and Adam, dense and
// sparse gradients, on 1, 2 and 3 shards; client-level save/restore.

#include "actors/shard/shard_client.hpp"

#include "actors/shard/shard_test_util.hpp"

namespace troupe::actors {
namespace {

using test::near;
using test::random_tensor;

// "w" [6,3] is split by size (72 bytes > 40), "emb" [7,2] as an embedding, "b" [3] is whole.
std::vector<variable_spec> model_vars() {
  return {{.name = "w", .type = dtype::float32, .shape = {6, 3}},
          {.name = "b", .type = dtype::float32, .shape = {3}},
          {.name = "emb", .type = dtype::float32, .shape = {7, 2}, .embedding = true}};
}
const plan_options small_split{.split_bytes = 40};

std::vector<piece_value> model_init() {
  return {{"w", random_tensor({6, 3}, 1)},
          {"b", random_tensor({3}, 2)},
          {"emb", random_tensor({7, 2}, 3)}};
}

shard_plan make_plan(int shards) {
  auto p = shard_plan::make(model_vars(), shards, small_split);
  EXPECT_TRUE(p.has_value()) << p.error_value().to_string();
  return std::move(*p);
}

variable_gradient sparse(const std::string& name, std::vector<int64_t> rows, int64_t cols,
                         uint64_t seed, bool int32 = false) {
  const int64_t k = int64_t(rows.size());
  tensor idx = int32 ? tensor::from_vector<int32_t>({k}, std::vector<int32_t>(rows.begin(), rows.end()))
                     : tensor::from_vector<int64_t>({k}, rows);
  return {.name = name, .indices = idx, .values = random_tensor({k, cols}, seed)};
}

// ---------------------------------------------------------------- pure functions

TEST(shard_split_test, values_split_and_assemble_back) {
  shard_plan plan = make_plan(3);
  auto init = model_init();
  auto split = split_values(plan, init, true);
  ASSERT_TRUE(split.has_value()) << split.error_value().to_string();
  for (const piece_value& pv : init) {
    std::vector<tensor> pieces;
    for (const shard_piece& p : plan.pieces_of(pv.name)) {
      const auto& on = (*split)[size_t(p.shard)];
      auto it = std::find_if(on.begin(), on.end(), [&](const piece_value& x) { return x.name == pv.name; });
      ASSERT_NE(it, on.end());
      EXPECT_TRUE(it->value.shape() == p.shape);
      pieces.push_back(it->value);
    }
    auto back = assemble(plan, pv.name, pieces);
    ASSERT_TRUE(back.has_value()) << back.error_value().to_string();
    EXPECT_TRUE(back->identical(pv.value)) << pv.name;
  }
  // Every variable must be given to init; a wrong shape is named.
  auto partial = split_values(plan, {init[0]}, true);
  ASSERT_FALSE(partial.has_value());
  EXPECT_TRUE(test::contains(partial.error_value().message(), "missing: 'b', 'emb'"));
  auto shaped = split_values(plan, {{"w", random_tensor({3, 6}, 1)}}, false);
  ASSERT_FALSE(shaped.has_value());
  EXPECT_TRUE(test::contains(shaped.error_value().message(), "must be float32 [6,3], got float32 [3,6]"));
  auto unknown = split_values(plan, {{"nope", random_tensor({1}, 1)}}, false);
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error_value().code(), errc::not_found);
}

TEST(shard_split_test, sparse_gradients_go_to_every_piece_rebased) {
  shard_plan plan = make_plan(3);
  auto pieces = plan.pieces_of("emb");  // rows split 3/2/2 or so over 3 shards
  ASSERT_EQ(pieces.size(), 3u);
  // Rows of the first and last pieces only, with a repeat.
  const int64_t last = pieces[2].row_begin;
  variable_gradient g = sparse("emb", {last, 0, last}, 2, 5, true);
  auto split = split_gradients(plan, {g});
  ASSERT_TRUE(split.has_value()) << split.error_value().to_string();
  for (size_t k = 0; k < 3; ++k) {
    const auto& on = (*split)[size_t(pieces[k].shard)];
    ASSERT_EQ(on.size(), 1u);
    const piece_gradient& pg = on[0];
    ASSERT_TRUE(pg.is_sparse());
    std::vector<int64_t> idx(pg.indices.values<int64_t>().begin(), pg.indices.values<int64_t>().end());
    // The middle piece gets no rows but a gradient: it counts the step too.
    const std::vector<int64_t> want[] = {{0}, {}, {0, 0}};
    EXPECT_EQ(idx, want[k]) << "piece " << k;
    EXPECT_EQ(pg.values.dim(0), int64_t(idx.size()));
  }
  // Values follow their rows: the first piece got position 1's row.
  const auto& first = (*split)[size_t(pieces[0].shard)][0];
  EXPECT_EQ(first.values.data<float>()[0], g.values.data<float>()[2]);
  EXPECT_EQ(first.values.data<float>()[1], g.values.data<float>()[3]);
  // Out of range: named, and nothing is split.
  auto bad = split_gradients(plan, {sparse("emb", {1, 7}, 2, 5)});
  ASSERT_FALSE(bad.has_value());
  EXPECT_TRUE(test::contains(bad.error_value().message(),
                             "row index 7 at position 1 is out of range for variable 'emb' with 7 rows"));
  auto shaped = split_gradients(plan, {{.name = "w", .dense = random_tensor({6, 2}, 1)}});
  ASSERT_FALSE(shaped.has_value());
  EXPECT_EQ(shaped.error_value().code(), errc::invalid_argument);
}

TEST(shard_split_test, rows_route_to_their_pieces_and_come_back_in_order) {
  shard_plan plan = make_plan(3);
  tensor emb = model_init()[2].value;
  tensor idx = tensor::from_vector<int64_t>({2, 3}, {6, 0, 3, 3, 1, 6});
  auto routes = route_rows(plan, "emb", idx);
  ASSERT_TRUE(routes.has_value()) << routes.error_value().to_string();
  EXPECT_TRUE(routes->result_shape == (tensor_shape{2, 3, 2}));
  // Answer each piece's local rows from the whole variable, as its shard would.
  std::vector<tensor> rows;
  auto pieces = plan.pieces_of("emb");
  for (size_t k = 0; k < pieces.size(); ++k) {
    if (!routes->local[k].valid()) {
      rows.emplace_back();
      continue;
    }
    const int64_t n = routes->local[k].num_elements();
    tensor t(dtype::float32, {n, 2});
    for (int64_t j = 0; j < n; ++j) {
      const int64_t r = pieces[k].row_begin + routes->local[k].data<int64_t>()[j];
      t.data<float>()[2 * j] = emb.data<float>()[2 * r];
      t.data<float>()[2 * j + 1] = emb.data<float>()[2 * r + 1];
    }
    rows.push_back(t);
  }
  auto got = gather_routed(plan, "emb", *routes, rows);
  ASSERT_TRUE(got.has_value()) << got.error_value().to_string();
  for (int64_t i = 0; i < 6; ++i) {
    const int64_t r = idx.data<int64_t>()[i];
    EXPECT_EQ(got->data<float>()[2 * i], emb.data<float>()[2 * r]);
    EXPECT_EQ(got->data<float>()[2 * i + 1], emb.data<float>()[2 * r + 1]);
  }
  EXPECT_FALSE(route_rows(plan, "emb", tensor::from_vector<int64_t>({1}, {-1})).has_value());
}

// ---------------------------------------------------------------- sharded training

class shard_client_test : public test::shard_fixture {
 protected:
  std::unique_ptr<shard_client> start(int shards, const std::string& rule,
                                      update_mode mode = update_mode::sync) {
    auto plan = std::make_shared<shard_plan>(make_plan(shards));
    std::vector<parameter_shard_actor> actors;
    for (int s = 0; s < shards; ++s)
      actors.push_back(spawn({.index = s, .pieces = plan->pieces_on(s),
                              .optimizer = {.rule = rule, .learning_rate = 0.05},
                              .mode = mode}));
    auto client = std::make_unique<shard_client>(sys_, plan, actors, std::chrono::seconds(10));
    error e = client->init(model_init());
    EXPECT_FALSE(e) << e.to_string();
    return client;
  }
};

TEST_F(shard_client_test, sharded_updates_equal_one_session_for_sgd_and_adam) {
  for (const char* rule : {"sgd", "adam"}) {
    for (bool sparse_grads : {false, true}) {
      for (int shards : {1, 2, 3}) {
        SCOPED_TRACE(str_cat(rule, sparse_grads ? " sparse " : " dense ", shards, " shards"));
        auto client = start(shards, rule);
        test::reference_model ref(model_vars(), model_init(), {.rule = rule, .learning_rate = 0.05});
        for (int64_t step = 0; step < 3; ++step) {
          const uint64_t seed = uint64_t(100 * step);
          std::vector<variable_gradient> grads{
              {.name = "b", .dense = random_tensor({3}, seed + 1)}};
          if (sparse_grads) {
            // w: rows of the first and last pieces, repeated; emb: one row, int32 indices.
            grads.push_back(sparse("w", {5, 0, 5, int64_t(step)}, 3, seed + 2));
            grads.push_back(sparse("emb", {int64_t(6 - step)}, 2, seed + 3, true));
          } else {
            grads.push_back({.name = "w", .dense = random_tensor({6, 3}, seed + 2)});
            grads.push_back({.name = "emb", .dense = random_tensor({7, 2}, seed + 3)});
          }
          auto acks = client->push(step, 0, grads);
          ASSERT_TRUE(acks.has_value()) << acks.error_value().to_string();
          for (const push_ack& a : *acks) {
            EXPECT_EQ(a.outcome, push_outcome::applied);
            EXPECT_EQ(a.step, step + 1);
          }
          ref.step(grads);
          auto got = client->pull(step + 1, {"w", "b", "emb"});
          ASSERT_TRUE(got.has_value()) << got.error_value().to_string();
          EXPECT_TRUE(near((*got)[0], ref.value("w"))) << "w, step " << step;
          EXPECT_TRUE(near((*got)[1], ref.value("b"))) << "b, step " << step;
          EXPECT_TRUE(near((*got)[2], ref.value("emb"))) << "emb, step " << step;
        }
        // An embedding look-up across shards, in the order asked.
        tensor emb = ref.value("emb");
        auto rows = client->pull_rows(3, "emb", tensor::from_vector<int32_t>({4}, {6, 0, 6, 3}));
        ASSERT_TRUE(rows.has_value()) << rows.error_value().to_string();
        ASSERT_TRUE(rows->shape() == (tensor_shape{4, 2}));
        const int64_t want[] = {6, 0, 6, 3};
        for (int i = 0; i < 4; ++i) {
          EXPECT_NEAR(rows->data<float>()[2 * i], emb.data<float>()[2 * want[i]], 1e-6);
          EXPECT_NEAR(rows->data<float>()[2 * i + 1], emb.data<float>()[2 * want[i] + 1], 1e-6);
        }
      }
    }
  }
}

TEST_F(shard_client_test, a_bad_gradient_reaches_no_shard) {
  auto client = start(3, "sgd");
  auto before = client->pull(0, {"w", "b", "emb"});
  ASSERT_TRUE(before.has_value());
  // b's gradient is fine, emb's has a row out of range: no shard gets anything.
  auto r = client->push(0, 0, {{.name = "b", .dense = random_tensor({3}, 1)},
                               sparse("emb", {0, 9}, 2, 2)});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error_value().code(), errc::invalid_argument);
  auto after = client->pull(0, {"w", "b", "emb"});
  ASSERT_TRUE(after.has_value());
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE((*after)[i].identical((*before)[i]));
  auto stats = client->stats();
  ASSERT_TRUE(stats.has_value());
  for (const shard_stats& s : *stats) EXPECT_EQ(s.step, 0);
  // An unknown variable, through the client.
  auto unknown = client->pull(0, "nope");
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error_value().code(), errc::not_found);
}

TEST_F(shard_client_test, save_and_restore_every_shard) {
  auto client = start(2, "adam");
  auto g = [](int64_t step) {
    return std::vector<variable_gradient>{{.name = "b", .dense = random_tensor({3}, uint64_t(step) + 1)},
                                          sparse("emb", {1, 6}, 2, uint64_t(step) + 2),
                                          {.name = "w", .dense = random_tensor({6, 3}, uint64_t(step) + 3)}};
  };
  ASSERT_TRUE(client->push(0, 0, g(0)).has_value());
  auto ids = client->save(dir_, 1);
  ASSERT_TRUE(ids.has_value()) << ids.error_value().to_string();
  EXPECT_EQ(*ids, (std::vector<int64_t>{1, 1}));
  EXPECT_TRUE(std::filesystem::is_directory(shard_client::shard_dir(dir_, 1)));
  auto saved = client->pull(1, {"w", "b", "emb"});
  ASSERT_TRUE(client->push(1, 0, g(1)).has_value());
  auto later = client->pull(2, {"w", "b", "emb"});
  auto step = client->restore(dir_);
  ASSERT_TRUE(step.has_value()) << step.error_value().to_string();
  EXPECT_EQ(*step, 1);
  auto restored = client->pull(1, {"w", "b", "emb"});
  ASSERT_TRUE(saved.has_value() && restored.has_value() && later.has_value());
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE((*restored)[i].identical((*saved)[i]));
  ASSERT_TRUE(client->push(1, 0, g(1)).has_value());
  auto again = client->pull(2, {"w", "b", "emb"});
  ASSERT_TRUE(again.has_value());
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE((*again)[i].identical((*later)[i]));
  // A save that reached only shard 0 leaves the shards' newest checkpoints at different
  // steps: restore says so.
  auto one = ask<int64_t>(spawned_[0], save_atom::value,
                          shard_client::shard_dir(dir_, 0).string(), int64_t(2));
  ASSERT_TRUE(one.has_value());
  auto mixed = client->restore(dir_);
  ASSERT_FALSE(mixed.has_value());
  EXPECT_EQ(mixed.error_value().code(), errc::failed_precondition);
  EXPECT_TRUE(test::contains(mixed.error_value().message(), "shard 0: 2, shard 1: 1"))
      << mixed.error_value().message();
}

TEST_F(shard_client_test, a_shard_without_pieces_still_counts_steps_and_checkpoints) {
  // One small variable on two shards: shard 1 holds nothing.
  auto plan = std::make_shared<shard_plan>(
      *shard_plan::make({{.name = "b", .type = dtype::float32, .shape = {3}}}, 2));
  ASSERT_TRUE(plan->pieces_on(1).empty());
  std::vector<parameter_shard_actor> actors;
  for (int s = 0; s < 2; ++s)
    actors.push_back(spawn({.index = s, .pieces = plan->pieces_on(s),
                            .optimizer = {.rule = "sgd", .learning_rate = 0.5}, .replicas = 2}));
  shard_client client(sys_, plan, actors, std::chrono::seconds(10));
  ASSERT_FALSE(client.init({{"b", tensor::from_vector<float>({3}, {1, 2, 3})}}));
  for (int r = 0; r < 2; ++r) {
    auto acks = client.push(0, r, {{.name = "b", .dense = tensor::from_vector<float>({3}, {1, 1, 1})}});
    ASSERT_TRUE(acks.has_value()) << acks.error_value().to_string();
    ASSERT_EQ(acks->size(), 2u);
    EXPECT_EQ((*acks)[1].outcome, r == 0 ? push_outcome::buffered : push_outcome::applied);
  }
  auto b = client.pull(1, "b");
  ASSERT_TRUE(b.has_value()) << b.error_value().to_string();
  EXPECT_TRUE(near(*b, tensor::from_vector<float>({3}, {0.5f, 1.5f, 2.5f})));
  auto stats = client.stats();
  ASSERT_TRUE(stats.has_value());
  EXPECT_EQ((*stats)[1].step, 1);
  EXPECT_TRUE((*stats)[1].pieces.empty());
  ASSERT_TRUE(client.save(dir_, 1).has_value());
  auto step = client.restore(dir_);
  ASSERT_TRUE(step.has_value()) << step.error_value().to_string();
  EXPECT_EQ(*step, 1);
}

}  // namespace
}  // namespace troupe::actors
