// A training loop you can read: an MLP learns to recognize letters (data/README.md) from
// 16 features, with Adam, checkpoints, and progress while it trains.
//
//   train_letters [--data data/letter_recognition.csv] [--epochs 40] [--batch 64]
//                 [--threads N] [--checkpoint-dir DIR] [--checkpoint-every STEPS]
//                 [--stop-after STEPS] [--digest]
//
// With --checkpoint-dir, training resumes from the newest good checkpoint there. With
// --threads 1 a run interrupted (--stop-after) and resumed ends bit-identical to an
// uninterrupted one: --digest prints a hash of every variable to check it.

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

#include "bin/csv.hpp"
#include "kernels/platform.hpp"
#include "runtime/checkpoint/checkpoint.hpp"
#include "runtime/exec/session.hpp"
#include "runtime/ops/array_ops.hpp"
#include "runtime/ops/core_ops.hpp"
#include "runtime/ops/math_ops.hpp"
#include "runtime/ops/nn_ops.hpp"
#include "runtime/ops/variable_ops.hpp"
#include "runtime/train/optimizer.hpp"
#include "runtime/train/schedules.hpp"

using namespace troupe;

struct options {
  std::string data = "data/letter_recognition.csv";
  int epochs = 40;
  int64_t batch = 64;
  int threads = 0;
  std::string checkpoint_dir;
  int64_t checkpoint_every = 1000;
  int64_t stop_after = -1;
  bool digest = false;
};

// The letters split as data/README.md says: row i is a test row when i % 5 == 0.
struct dataset {
  std::vector<float> train_x, test_x;
  std::vector<int32_t> train_y, test_y;
  static constexpr int64_t features = 16;
  int64_t train_rows() const { return int64_t(train_y.size()); }
};

expected<dataset> load(const std::string& path) {
  cli::csv_table t = TROUPE_TRY(cli::read_csv(path));
  size_t label = TROUPE_TRY(t.column("lettr"));
  TROUPE_REQUIRE(t.header.size() == dataset::features + 1, path, ": expected 17 columns, got ",
                 t.header.size());
  dataset d;
  for (size_t i = 0; i < t.rows.size(); ++i) {
    bool test = i % 5 == 0;
    const std::string& l = t.rows[i][label];
    TROUPE_REQUIRE(l.size() == 1 && l[0] >= 'A' && l[0] <= 'Z', path, ":", i + 2,
                   ": column 'lettr' must be a letter A-Z, got '", l, "'");
    (test ? d.test_y : d.train_y).push_back(l[0] - 'A');
    for (size_t c = 0; c < t.rows[i].size(); ++c) {
      if (c == label) continue;
      char* end = nullptr;
      const std::string& field = t.rows[i][c];
      double v = std::strtod(field.c_str(), &end);
      TROUPE_REQUIRE(!field.empty() && *end == '\0', path, ":", i + 2, ": column '", t.header[c],
                     "' must be a number, got '", field, "'");
      (test ? d.test_x : d.train_x).push_back(float(v));
    }
  }
  return d;
}

// The model: standardize with the training set's mean and deviation (part of the graph),
// then 16 -> 256 -> 256 -> 26 with ReLU.
struct model {
  output x, y;  // placeholders: features [N, 16], labels [N]
  output logits, loss, accuracy;
  std::vector<variable> vars;
};

model build_model(const scope& s, const dataset& d) {
  model m;
  const int64_t f = dataset::features;
  m.x = ops::placeholder(s.with_name("x"), dtype::float32, {-1, f});
  m.y = ops::placeholder(s.with_name("y"), dtype::int32, {-1});
  std::vector<float> mean(f, 0), dev(f, 0);
  for (int64_t i = 0; i < d.train_rows(); ++i)
    for (int64_t j = 0; j < f; ++j) mean[size_t(j)] += d.train_x[size_t(i * f + j)] / float(d.train_rows());
  for (int64_t i = 0; i < d.train_rows(); ++i)
    for (int64_t j = 0; j < f; ++j) {
      float c = d.train_x[size_t(i * f + j)] - mean[size_t(j)];
      dev[size_t(j)] += c * c / float(d.train_rows());
    }
  for (float& v : dev) v = std::sqrt(v) + 1e-6f;
  output h = ops::div(s, ops::sub(s, m.x, ops::constant<float>(s, {f}, mean)),
                      ops::constant<float>(s, {f}, dev));
  const int64_t sizes[] = {f, 256, 256, 26};
  for (int l = 0; l < 3; ++l) {
    scope ls = s.sub(str_cat("layer", l + 1));
    double limit = std::sqrt(6.0 / double(sizes[l] + sizes[l + 1]));  // Glorot uniform
    variable w = make_variable(ls, "w", ops::random_uniform(ls, partial_shape{sizes[l], sizes[l + 1]},
                                                            dtype::float32, l + 1, -limit, limit));
    variable b = make_variable(ls, "b", ops::fill(ls, dtype::float32, {sizes[l + 1]}, 0.0));
    h = ops::bias_add(ls, ops::matmul(ls, h, w.value), b.value);
    if (l < 2) h = ops::relu(ls, h);
    m.vars.push_back(w);
    m.vars.push_back(b);
  }
  m.logits = h;
  m.loss = ops::mean(s.with_name("loss"),
                     ops::sparse_softmax_cross_entropy_with_logits(s, m.logits, m.y).loss);
  output predicted = ops::cast(s, ops::argmax(s, m.logits, 1), dtype::int32);
  m.accuracy = ops::mean(s.with_name("accuracy"),
                         ops::cast(s, ops::equal(s, predicted, m.y), dtype::float32));
  return m;
}

// The rows of each training batch: every epoch visits every row once, in an order that
// depends only on the epoch, so a resumed run sees the batches an uninterrupted one does.
class batcher {
 public:
  batcher(int64_t rows, int64_t batch) : rows_(rows), batch_(batch) {}
  int64_t per_epoch() const { return rows_ / batch_; }
  const int64_t* rows_of(int64_t step) {
    int64_t epoch = step / per_epoch();
    if (epoch != epoch_) {
      epoch_ = epoch;
      order_.resize(size_t(rows_));
      for (size_t i = 0; i < order_.size(); ++i) order_[i] = int64_t(i);
      std::mt19937_64 rng(uint64_t(epoch) * 0x9E3779B97F4A7C15ULL + 1);
      for (size_t i = order_.size() - 1; i > 0; --i) std::swap(order_[i], order_[rng() % (i + 1)]);
    }
    return order_.data() + (step % per_epoch()) * batch_;
  }

 private:
  int64_t rows_, batch_, epoch_ = -1;
  std::vector<int64_t> order_;
};

uint64_t digest_of(resource_mgr& rm) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a over every variable's bytes, by name
  for (const auto& [name, r] : rm.list("")) {
    auto v = std::dynamic_pointer_cast<variable_resource>(r);
    if (!v || !v->initialized()) continue;
    tensor t = *v->read(name);
    for (char c : name) h = (h ^ uint8_t(c)) * 1099511628211ULL;
    const auto* p = static_cast<const uint8_t*>(t.raw_data());
    for (size_t i = 0; i < t.byte_size(); ++i) h = (h ^ p[i]) * 1099511628211ULL;
  }
  return h;
}

error run_training(const options& o) {
  dataset d = TROUPE_TRY(load(o.data));
  std::printf("letters: %lld training rows, %zu test rows\n", (long long)d.train_rows(),
              d.test_y.size());
  platform plat;
  graph g(plat.ops());
  scope s = scope::root(g);
  model m = build_model(s, d);
  batcher batches(d.train_rows(), o.batch);
  const int64_t per_epoch = batches.per_epoch(), total = per_epoch * o.epochs;
  variable step_var = train::make_global_step(s);
  // Adam with a learning rate decaying from 0.003 to 1% of it along a cosine.
  output lr = train::learning_rate(s.sub("lr"), train::cosine_decay(0.003, total, 0.01),
                                   step_var.value);
  train::adam opt(lr);
  operation train_op = TROUPE_TRY(opt.minimize(s.sub("train"), m.loss, m.vars, &step_var));
  std::vector<variable> all = m.vars;
  for (const variable& v : opt.slots()) all.push_back(v);
  all.push_back(step_var);
  operation init = ops::initialize_all(s, all);
  TROUPE_TRY(s.status());

  session sess(g, plat.kernels(), {.num_threads = o.threads});
  resource_mgr& rm = sess.device().resources();
  std::unique_ptr<checkpoint_store> store;
  bool restored = false;
  if (!o.checkpoint_dir.empty()) {
    store = TROUPE_TRY(checkpoint_store::open(o.checkpoint_dir, {.keep_last = 3}));
    auto saved = TROUPE_TRY(store->list());
    if (!saved.empty()) {
      restore_report r = TROUPE_TRY(store->restore(rm, "", {}));
      std::printf("restored checkpoint of step %lld from %s\n", (long long)r.step,
                  o.checkpoint_dir.c_str());
      restored = true;
    }
  }
  if (!restored) TROUPE_TRY(sess.run(std::vector<std::pair<output, tensor>>{}, {}, {init}));
  int64_t step = TROUPE_TRY(sess.run(std::vector<std::pair<output, tensor>>{}, {step_var.value}))[0]
             .scalar_value<int64_t>();
  std::printf("training %lld steps of %lld examples (%d epochs) on %d thread(s), from step %lld\n",
              (long long)total, (long long)o.batch, o.epochs, sess.device().num_threads(),
              (long long)step);

  using clock = std::chrono::steady_clock;
  auto since = clock::now();
  int64_t since_step = step;
  double loss_sum = 0;
  auto save = [&](int64_t at) -> error {
    if (store) TROUPE_TRY(store->save(rm, "", at));
    return {};
  };
  while (step < total) {
    if (o.stop_after >= 0 && step >= o.stop_after) {
      TROUPE_TRY(save(step));
      std::printf("stopped at step %lld (--stop-after)\n", (long long)step);
      return {};
    }
    const int64_t* rows = batches.rows_of(step);
    tensor bx(dtype::float32, {o.batch, dataset::features}), by(dtype::int32, {o.batch});
    for (int64_t i = 0; i < o.batch; ++i) {
      std::memcpy(bx.data<float>() + i * dataset::features,
                  d.train_x.data() + rows[i] * dataset::features,
                  sizeof(float) * dataset::features);
      by.data<int32_t>()[i] = d.train_y[size_t(rows[i])];
    }
    auto out = TROUPE_TRY(sess.run({{m.x, bx}, {m.y, by}}, {m.loss}, {train_op}));
    loss_sum += out[0].scalar_value<float>();
    ++step;
    if (step % 500 == 0 || step == total) {
      double secs = std::chrono::duration<double>(clock::now() - since).count();
      std::printf("step %6lld  epoch %3lld  loss %.4f  %8.0f examples/s\n", (long long)step,
                  (long long)(step / per_epoch), loss_sum / double(step - since_step),
                  double(step - since_step) * double(o.batch) / secs);
      std::fflush(stdout);
      since = clock::now();
      since_step = step;
      loss_sum = 0;
    }
    if (store && step % o.checkpoint_every == 0) TROUPE_TRY(save(step));
  }
  TROUPE_TRY(save(step));
  const int64_t n_test = int64_t(d.test_y.size());
  auto acc = TROUPE_TRY(sess.run(
      {{m.x, tensor::from_vector<float>({n_test, dataset::features}, d.test_x)},
       {m.y, tensor::from_vector<int32_t>({n_test}, d.test_y)}},
      {m.accuracy}));
  std::printf("test accuracy: %.4f\n", acc[0].scalar_value<float>());
  if (o.digest) std::printf("digest: %016llx\n", (unsigned long long)digest_of(rm));
  return {};
}

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--data") o.data = next();
    else if (a == "--epochs") o.epochs = std::atoi(next());
    else if (a == "--batch") o.batch = std::atoll(next());
    else if (a == "--threads") o.threads = std::atoi(next());
    else if (a == "--checkpoint-dir") o.checkpoint_dir = next();
    else if (a == "--checkpoint-every") o.checkpoint_every = std::atoll(next());
    else if (a == "--stop-after") o.stop_after = std::atoll(next());
    else if (a == "--digest") o.digest = true;
    else {
      std::fprintf(stderr, "train_letters: unknown option '%s' (see the top of "
                           "examples/train_letters.cpp)\n", a.c_str());
      return 2;
    }
  }
  if (o.epochs <= 0 || o.batch <= 0 || o.checkpoint_every <= 0) {
    std::fprintf(stderr, "train_letters: --epochs, --batch and --checkpoint-every must be > 0\n");
    return 2;
  }
  if (error e = run_training(o)) {
    std::fprintf(stderr, "train_letters: %s\n", e.to_string().c_str());
    return 1;
  }
  return 0;
}
