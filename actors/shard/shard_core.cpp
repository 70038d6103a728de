#include "actors/shard/shard_core.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include "runtime/ops/array_ops.hpp"
#include "runtime/ops/core_ops.hpp"

namespace troupe::actors {

// Note [Shard steps]
// A shard counts steps. Sync mode: step_ is the step being gathered, i.e. the number of
// steps applied since init (or the step of the checkpoint restored). A push for step_
// from a replica that has not pushed for it yet is validated and kept; when R - k
// replicas have pushed (k = backup_replicas), the step is applied once: each piece gets
// one update with the sum of the kept gradients divided by R - k (a replica that sent no
// gradient for a piece counts as a zero gradient; a piece nobody sent one for is not
// updated and its update count does not advance), and step_ grows by one. Pushes for a
// step below step_ come too late: they are dropped and counted, not errors (the backup
// replicas' pushes end there). A push for a step above step_ is an error: a replica
// pulls step s (which waits until step s - 1 is applied) before it pushes for s. The kept
// gradients are combined in replica order, so the result does not depend on the order
// pushes arrive in. Async mode: every push is applied at once with its own gradients and
// step_ counts the pushes applied; the step a push names is not checked.
//
// Each piece keeps its own update count, the int64 variable "<piece>/<rule>/iterations",
// which the optimizer's update ops read as their step (Adam's bias correction) and
// increment: with every piece updated once per step, as a single-session model updates
// every variable once per run, the counts and so the updates agree with it. A sparse
// gradient with no rows (K = 0) is still an update: the client sends one to every piece
// of a variable, so that pieces whose rows were not looked up count the step too (lazy
// Adam, as in one session).

// Note [Shard validation]
// Every request is checked in full before anything changes: names, dtypes, shapes and
// every row index of every gradient of a push, the step and replica rules, then the
// update runs. So an error leaves the pieces, slots, counts, step and kept gradients as
// they were. Restores rely on checkpoint_store::restore, which verifies and decodes every
// tensor and checks it against the declared dtype and shape of the shard's variables
// (created, uninitialized, when the shard is built) before it assigns any.

namespace {

// The shard's own variable: the step of its last save. Every checkpoint holds it, so a
// shard without pieces saves and restores like the others.
constexpr const char* step_variable = "parameter_shard/step";

bool is_int_index(dtype t) { return t == dtype::int32 || t == dtype::int64; }

// `indices` (int32 or int64) as an int64 tensor of the same shape (the same tensor if it
// is one already).
tensor as_int64(const tensor& indices) {
  if (indices.dtype() == dtype::int64) return indices;
  tensor out(dtype::int64, indices.shape());
  auto in = indices.values<int32_t>();
  auto o = out.values<int64_t>();
  for (size_t i = 0; i < in.size(); ++i) o[i] = in[i];
  return out;
}

int64_t index_at(const tensor& indices, int64_t i) {
  return indices.dtype() == dtype::int64 ? indices.data<int64_t>()[i]
                                         : int64_t(indices.data<int32_t>()[i]);
}

// The first index outside [0, rows), as an error naming it and `what`.
error check_rows(const tensor& indices, int64_t rows, const std::string& what) {
  for (int64_t i = 0; i < indices.num_elements(); ++i) {
    int64_t r = index_at(indices, i);
    if (r < 0 || r >= rows) {
      return make_error(errc::invalid_argument, "row index ", r, " at position ", i, " of ",
                        what, " is out of range: the piece has ", rows,
                        " rows (local indices [0, ", rows, "))");
    }
  }
  return {};
}

// The sum of `grads` (dense or sparse, of a piece of shape `shape`) divided by `divisor`,
// as a dense tensor.
template <class T>
tensor dense_mean(const std::vector<const piece_gradient*>& grads, const tensor_shape& shape,
                  int divisor) {
  tensor out(dtype_v<T>, shape);
  auto sum = out.flat<T>();
  const int64_t row = shape.rank() == 0 || shape.dim(0) == 0 ? 0
                                                             : shape.num_elements() / shape.dim(0);
  for (const piece_gradient* g : grads) {
    if (!g->is_sparse()) {
      sum += g->dense.flat<T>();
      continue;
    }
    const T* v = g->values.data<T>();
    T* o = out.data<T>();
    for (int64_t i = 0; i < g->indices.num_elements(); ++i) {
      T* dst = o + index_at(g->indices, i) * row;
      for (int64_t j = 0; j < row; ++j) dst[j] += v[i * row + j];
    }
  }
  if (divisor != 1) sum /= T(divisor);
  return out;
}

// The rows of sparse `grads`, concatenated, with values divided by `divisor`.
template <class T>
std::pair<tensor, tensor> sparse_mean(const std::vector<const piece_gradient*>& grads,
                                      const tensor_shape& shape, int divisor) {
  int64_t k = 0;
  for (const piece_gradient* g : grads) k += g->indices.num_elements();
  tensor_shape vshape = shape;
  vshape.set_dim(0, k);
  tensor indices(dtype::int64, tensor_shape{k});
  tensor values(dtype_v<T>, vshape);
  const int64_t row = shape.dim(0) == 0 ? 0 : shape.num_elements() / shape.dim(0);
  int64_t at = 0;
  for (const piece_gradient* g : grads) {
    const int64_t n = g->indices.num_elements();
    for (int64_t i = 0; i < n; ++i) indices.data<int64_t>()[at + i] = index_at(g->indices, i);
    if (n * row > 0)
      std::memcpy(values.data<T>() + at * row, g->values.data<T>(), size_t(n * row) * sizeof(T));
    at += n;
  }
  if (divisor != 1) values.flat<T>() /= T(divisor);
  return {indices, values};
}

}  // namespace

// ---------------------------------------------------------------- optimizer_spec

expected<std::unique_ptr<train::optimizer>> make_optimizer(const optimizer_spec& spec) {
  using defaults = std::vector<std::pair<std::string, double>>;
  defaults known;
  if (spec.rule == "sgd") {
  } else if (spec.rule == "momentum") {
    known = {{"momentum", 0.9}, {"use_nesterov", 0.0}};
  } else if (spec.rule == "adagrad") {
    known = {{"initial_accumulator", 0.1}, {"epsilon", 1e-7}};
  } else if (spec.rule == "adam") {
    known = {{"beta1", 0.9}, {"beta2", 0.999}, {"epsilon", 1e-8}};
  } else if (spec.rule == "ftrl") {
    known = {{"l1", 0.0}, {"l2", 0.0}, {"initial_accumulator", 0.1}, {"lr_power", -0.5}};
  } else {
    return make_error(errc::invalid_argument, "optimizer spec: unknown rule '", spec.rule,
                      "': expected sgd, momentum, adagrad, adam or ftrl");
  }
  std::map<std::string, double> p(known.begin(), known.end());
  for (const auto& [name, value] : spec.params) {
    auto it = p.find(name);
    if (it == p.end()) {
      std::string names;
      for (const auto& [n, v] : known) names += str_cat(names.empty() ? "" : ", ", n);
      return make_error(errc::invalid_argument, "optimizer spec: rule '", spec.rule,
                        "' has no parameter '", name, "' (it has: ",
                        names.empty() ? "none" : names, ")");
    }
    TROUPE_REQUIRE(std::isfinite(value), "optimizer spec: parameter '", name,
                   "' must be finite, got ", value);
    it->second = value;
  }
  const double lr = spec.learning_rate;
  TROUPE_REQUIRE(std::isfinite(lr), "optimizer spec: the learning rate must be finite, got ", lr);
  std::unique_ptr<train::optimizer> out;
  if (spec.rule == "sgd") out = std::make_unique<train::sgd>(lr);
  if (spec.rule == "momentum")
    out = std::make_unique<train::momentum>(lr, p["momentum"], p["use_nesterov"] != 0);
  if (spec.rule == "adagrad")
    out = std::make_unique<train::adagrad>(lr, p["initial_accumulator"], p["epsilon"]);
  if (spec.rule == "adam")
    out = std::make_unique<train::adam>(lr, p["beta1"], p["beta2"], p["epsilon"]);
  if (spec.rule == "ftrl")
    out = std::make_unique<train::ftrl>(lr, p["l1"], p["l2"], p["initial_accumulator"],
                                        p["lr_power"]);
  return out;
}

// ---------------------------------------------------------------- building

/// A piece's nodes in the shard's graph.
struct shard_core::piece_graph {
  shard_piece piece;
  std::string label;            // "'w'" or "'w' rows [4, 8)", for messages
  output init_value;            // fed by init/assign
  variable var;                 // the piece's variable; its initializer assigns init_value
  variable count;               // "<piece>/<rule>/iterations"
  std::vector<variable> slots;  // the optimizer's slots of var
  bool trainable = false;       // float32/float64
  output grad;                  // dense gradient
  operation dense_update;
  output indices, values;       // sparse gradient (int64 indices)
  operation sparse_update;      // invalid for a scalar piece
  output row_indices;           // int64, any shape
  output rows;                  // gather(var, row_indices); invalid for a scalar piece
};

shard_core::shard_core(shard_options opts)
    : opts_(std::move(opts)), where_(str_cat("parameter shard ", opts_.index)) {}

shard_core::~shard_core() = default;

expected<std::unique_ptr<shard_core>> shard_core::make(const platform& p, shard_options opts) {
  std::unique_ptr<shard_core> core(new shard_core(std::move(opts)));
  error e = core->build(p);
  if (e) return std::move(e).with_context(core->where_);
  return core;
}

error shard_core::build(const platform& p) {
  const shard_options& o = opts_;
  TROUPE_REQUIRE(o.replicas >= 1, "replicas must be at least 1, got ", o.replicas);
  TROUPE_REQUIRE(o.backup_replicas >= 0 && o.backup_replicas < o.replicas,
                 "backup_replicas must be in [0, replicas) = [0, ", o.replicas, "), got ",
                 o.backup_replicas);
  TROUPE_REQUIRE(o.threads >= 1, "threads must be at least 1, got ", o.threads);
  optimizer_ = TROUPE_TRY(make_optimizer(o.optimizer));
  graph_ = std::make_unique<graph>(p.ops());
  session_ = std::make_unique<session>(*graph_, p.kernels(),
                                       session_options{.num_threads = o.threads});
  scope root = scope::root(*graph_);
  const std::string rule = optimizer_->name();
  resource_mgr& rm = session_->device().resources();
  for (const shard_piece& piece : o.pieces) {
    const std::string& name = piece.variable;
    TROUPE_REQUIRE(piece.shard == o.index, "piece '", name, "' belongs to shard ", piece.shard);
    TROUPE_REQUIRE(!pieces_.contains(name), "piece '", name, "' is given twice");
    TROUPE_REQUIRE(piece.type != dtype::invalid, "piece '", name, "' has an invalid dtype");
    auto pg = std::make_unique<piece_graph>();
    pg->piece = piece;
    pg->label = piece.split ? str_cat("'", name, "' rows [", piece.row_begin, ", ",
                                      piece.row_end, ")")
                            : str_cat("'", name, "'");
    const scope ps = root.sub(name);
    pg->init_value = ops::placeholder(ps.with_name("init_value"), piece.type, piece.shape);
    pg->var = make_variable(root, name, pg->init_value);
    const std::string count_name = str_cat(name, "/", rule, "/iterations");
    pg->count = make_variable(root, count_name, ops::constant(root.sub(count_name), int64_t(0)));
    pg->trainable = is_floating(piece.type);
    if (pg->trainable) {
      const scope us = ps.sub("update");
      const size_t first_slot = optimizer_->slots().size();
      pg->grad = ops::placeholder(us.with_name("grad"), piece.type, piece.shape);
      pg->dense_update = TROUPE_TRY(
          optimizer_->apply_gradients(us, {{gradient::of(pg->grad), pg->var}}, &pg->count));
      if (piece.shape.rank() >= 1) {
        std::vector<int64_t> vdims = piece.shape.to_vector();
        vdims[0] = -1;
        pg->indices = ops::placeholder(us.with_name("indices"), dtype::int64, {-1});
        pg->values = ops::placeholder(us.with_name("values"), piece.type,
                                      partial_shape(std::span<const int64_t>(vdims)));
        gradient sparse{.indices = pg->indices, .values = pg->values};
        pg->sparse_update =
            TROUPE_TRY(optimizer_->apply_gradients(us, {{sparse, pg->var}}, &pg->count));
      }
      const auto& all = optimizer_->slots();
      pg->slots.assign(all.begin() + std::ptrdiff_t(first_slot), all.end());
    }
    if (piece.shape.rank() >= 1) {
      pg->row_indices = ops::placeholder(ps.with_name("row_indices"), dtype::int64);
      pg->rows = ops::gather(ps.sub("rows"), pg->var.value, pg->row_indices);
    }
    TROUPE_TRY(root.status());
    // The variables exist, uninitialized, with their declared dtype and shape, so that a
    // restore checks a checkpoint against them (Note [Shard validation]).
    auto declare = [&](const variable& v) {
      rm.put("", v.name, std::make_shared<variable_resource>(v.type, v.shape));
    };
    declare(pg->var);
    declare(pg->count);
    for (const variable& s : pg->slots) declare(s);
    pieces_.emplace(name, std::move(pg));
  }
  rm.put("", step_variable, std::make_shared<variable_resource>(dtype::int64, tensor_shape{}));
  stats_.index = o.index;
  for (const auto& [name, pg] : pieces_) stats_.pieces.push_back(name);
  return {};
}

expected<shard_core::piece_graph*> shard_core::find(const std::string& name) {
  auto it = pieces_.find(name);
  if (it != pieces_.end()) return it->second.get();
  std::string held;
  for (const auto& [n, pg] : pieces_) held += str_cat(held.empty() ? "'" : ", '", n, "'");
  return make_error(errc::not_found, "no piece of variable '", name, "' here (it holds ",
                    held.empty() ? "no pieces" : held, ")");
}

expected<const shard_core::piece_graph*> shard_core::find(const std::string& name) const {
  piece_graph* pg = TROUPE_TRY(const_cast<shard_core*>(this)->find(name));
  return pg;
}

std::vector<std::string> shard_core::state_names() const {
  std::vector<std::string> out{step_variable};
  for (const auto& [name, pg] : pieces_) {
    out.push_back(pg->var.name);
    out.push_back(pg->count.name);
    for (const variable& s : pg->slots) out.push_back(s.name);
  }
  return out;
}

// ---------------------------------------------------------------- values

error shard_core::check_values(const std::vector<piece_value>& values, bool all) const {
  std::set<std::string> seen;
  for (const piece_value& v : values) {
    const piece_graph* pg = TROUPE_TRY(find(v.name));
    TROUPE_REQUIRE(seen.insert(v.name).second, "the value of piece ", pg->label,
                   " is given twice");
    TROUPE_REQUIRE(v.value.valid() && v.value.dtype() == pg->piece.type &&
                       v.value.shape() == pg->piece.shape,
                   "the value of piece ", pg->label, " must be ", dtype_name(pg->piece.type),
                   " ", pg->piece.shape.to_string(), ", got ",
                   v.value.valid() ? str_cat(dtype_name(v.value.dtype()), " ",
                                             v.value.shape().to_string())
                                   : std::string("an invalid tensor"));
  }
  if (all) {
    std::string missing;
    for (const auto& [name, pg] : pieces_)
      if (!seen.contains(name)) missing += str_cat(missing.empty() ? "" : ", ", pg->label);
    TROUPE_REQUIRE(missing.empty(), "init must give every piece; missing: ", missing);
  }
  return {};
}

error shard_core::init(const std::vector<piece_value>& values) {
  error e = [&]() -> error {
    TROUPE_TRY(check_values(values, true));
    std::vector<std::pair<output, tensor>> feeds;
    std::vector<operation> targets;
    for (const piece_value& v : values) {
      const piece_graph& pg = *pieces_.at(v.name);
      feeds.emplace_back(pg.init_value, v.value);
      targets.push_back(pg.var.initializer);
      targets.push_back(pg.count.initializer);
      for (const variable& s : pg.slots) targets.push_back(s.initializer);
    }
    if (!targets.empty()) TROUPE_TRY(session_->run(feeds, {}, targets));
    initialized_ = true;
    step_ = 0;
    gathered_.clear();
    return {};
  }();
  return std::move(e).with_context(str_cat(where_, ": init"));
}

error shard_core::assign(const std::vector<piece_value>& values) {
  error e = [&]() -> error {
    if (!initialized_)
      return make_error(errc::failed_precondition, "not initialized: init or restore first");
    TROUPE_TRY(check_values(values, false));
    std::vector<std::pair<output, tensor>> feeds;
    std::vector<operation> targets;
    for (const piece_value& v : values) {
      const piece_graph& pg = *pieces_.at(v.name);
      feeds.emplace_back(pg.init_value, v.value);
      targets.push_back(pg.var.initializer);
    }
    if (!targets.empty()) TROUPE_TRY(session_->run(feeds, {}, targets));
    return {};
  }();
  return std::move(e).with_context(str_cat(where_, ": assign"));
}

expected<std::vector<tensor>> shard_core::read(const std::vector<std::string>& names) const {
  auto r = [&]() -> expected<std::vector<tensor>> {
    if (!initialized_)
      return make_error(errc::failed_precondition, "not initialized: init or restore first");
    std::vector<std::string> all;
    if (names.empty())
      for (const auto& [n, pg] : pieces_) all.push_back(n);
    const std::vector<std::string>& want = names.empty() ? all : names;
    std::vector<tensor> out;
    const resource_mgr& rm = session_->device().resources();
    for (const std::string& n : want) {
      const piece_graph* pg = TROUPE_TRY(find(n));
      auto var = TROUPE_TRY(rm.lookup<variable_resource>("", pg->var.name));
      out.push_back(TROUPE_TRY(var->read(pg->var.name)));
    }
    return out;
  }();
  if (!r) return std::move(r).error_value().with_context(str_cat(where_, ": pull"));
  return r;
}

expected<tensor> shard_core::read_rows(const std::string& name, const tensor& indices) {
  auto r = [&]() -> expected<tensor> {
    if (!initialized_)
      return make_error(errc::failed_precondition, "not initialized: init or restore first");
    piece_graph* pg = TROUPE_TRY(find(name));
    TROUPE_REQUIRE(pg->rows.valid(), "piece ", pg->label, " is a scalar: it has no rows");
    TROUPE_REQUIRE(indices.valid() && is_int_index(indices.dtype()), "the row indices for ",
                   pg->label, " must be int32 or int64, got ",
                   indices.valid() ? dtype_name(indices.dtype()) : "an invalid tensor");
    TROUPE_TRY(check_rows(indices, pg->piece.rows(), str_cat("the rows asked of ", pg->label)));
    auto got = TROUPE_TRY(session_->run({{pg->row_indices, as_int64(indices)}}, {pg->rows}));
    return got[0];
  }();
  if (!r) return std::move(r).error_value().with_context(str_cat(where_, ": pull_rows"));
  return r;
}

int64_t shard_core::updates(const std::string& name) const {
  auto it = pieces_.find(name);
  if (it == pieces_.end() || !initialized_) return -1;
  auto var = session_->device().resources().lookup<variable_resource>("", it->second->count.name);
  if (!var) return -1;
  auto t = (*var)->read(it->second->count.name);
  return t ? t->scalar_value<int64_t>() : -1;
}

// ---------------------------------------------------------------- pushes

error shard_core::check_gradient(const piece_graph& pg, const piece_gradient& g) const {
  const shard_piece& p = pg.piece;
  const std::string what = str_cat("the gradient of ", pg.label);
  TROUPE_REQUIRE(pg.trainable, what, ": the variable is ", dtype_name(p.type),
                 "; only float32 and float64 variables are trained");
  const bool dense = g.dense.valid(), sparse = g.indices.valid() || g.values.valid();
  TROUPE_REQUIRE(dense != sparse && (dense || (g.indices.valid() && g.values.valid())), what,
                 " must be either dense or sparse (indices and values)");
  if (dense) {
    TROUPE_REQUIRE(g.dense.dtype() == p.type && g.dense.shape() == p.shape, what, " must be ",
                   dtype_name(p.type), " ", p.shape.to_string(), ", got ",
                   dtype_name(g.dense.dtype()), " ", g.dense.shape().to_string());
    return {};
  }
  TROUPE_REQUIRE(pg.sparse_update.valid(), what, ": the piece is a scalar: it has no rows");
  TROUPE_REQUIRE(is_int_index(g.indices.dtype()) && g.indices.rank() == 1, what,
                 ": indices must be an int32 or int64 vector, got ", dtype_name(g.indices.dtype()),
                 " ", g.indices.shape().to_string());
  bool rows_match = g.values.dtype() == p.type && g.values.rank() == p.shape.rank() &&
                    g.values.dim(0) == g.indices.dim(0);
  for (int d = 1; rows_match && d < p.shape.rank(); ++d)
    rows_match = g.values.dim(d) == p.shape.dim(d);
  if (!rows_match) {
    tensor_shape want = p.shape;
    want.set_dim(0, g.indices.dim(0));
    return make_error(errc::invalid_argument, what, ": values must be ", dtype_name(p.type), " ",
                      want.to_string(), " (one row per index), got ", dtype_name(g.values.dtype()),
                      " ", g.values.shape().to_string());
  }
  return check_rows(g.indices, p.rows(), str_cat("the sparse gradient of ", pg.label));
}

expected<push_ack> shard_core::push(int64_t step, int replica,
                                    const std::vector<piece_gradient>& grads) {
  auto r = [&]() -> expected<push_ack> {
    TROUPE_REQUIRE(replica >= 0 && replica < opts_.replicas, "replica ", replica,
                   " is outside [0, ", opts_.replicas, ")");
    if (!initialized_)
      return make_error(errc::failed_precondition, "not initialized: init or restore first");
    const bool sync = opts_.mode == update_mode::sync;
    if (sync) {
      if (step < step_) {
        ++stats_.dropped;
        return push_ack{push_outcome::dropped, step_};
      }
      if (step > step_)
        return make_error(errc::failed_precondition, "replica ", replica, " pushed for step ",
                          step, " but the shard gathers step ", step_, ": pull step ", step,
                          " first");
      if (gathered_.contains(replica))
        return make_error(errc::already_exists, "replica ", replica,
                          " already pushed for step ", step);
    }
    std::set<std::string> seen;
    for (const piece_gradient& g : grads) {
      const piece_graph* pg = TROUPE_TRY(find(g.name));
      TROUPE_REQUIRE(seen.insert(g.name).second, "the gradient of ", pg->label,
                     " is given twice");
      TROUPE_TRY(check_gradient(*pg, g));
    }
    ++stats_.accepted;
    if (!sync) {
      std::map<std::string, std::vector<const piece_gradient*>> by_piece;
      for (const piece_gradient& g : grads) by_piece[g.name].push_back(&g);
      TROUPE_TRY(apply(by_piece, 1));
      ++step_;
      ++stats_.applied;
      return push_ack{push_outcome::applied, step_};
    }
    gathered_[replica] = grads;
    if (int(gathered_.size()) < opts_.replicas - opts_.backup_replicas)
      return push_ack{push_outcome::buffered, step_};
    std::map<int, std::vector<piece_gradient>> kept = std::move(gathered_);
    gathered_.clear();
    std::map<std::string, std::vector<const piece_gradient*>> by_piece;
    for (const auto& [rep, list] : kept)  // replica order: Note [Shard steps]
      for (const piece_gradient& g : list) by_piece[g.name].push_back(&g);
    TROUPE_TRY(apply(by_piece, int(kept.size())));
    ++step_;
    ++stats_.applied;
    return push_ack{push_outcome::applied, step_};
  }();
  if (!r) {
    ++stats_.rejected;
    return std::move(r).error_value().with_context(
        str_cat(where_, ": push for step ", step, " from replica ", replica));
  }
  return r;
}

error shard_core::apply(const std::map<std::string, std::vector<const piece_gradient*>>& grads,
                        int divisor) {
  std::vector<std::pair<output, tensor>> feeds;
  std::vector<operation> targets;
  for (const auto& [name, list] : grads) {
    const piece_graph& pg = *pieces_.at(name);
    const bool any_dense =
        std::any_of(list.begin(), list.end(), [](const piece_gradient* g) { return !g->is_sparse(); });
    if (list.size() == 1 && divisor == 1) {  // as given: no copy
      const piece_gradient& g = *list[0];
      if (any_dense) {
        feeds.emplace_back(pg.grad, g.dense);
      } else {
        feeds.emplace_back(pg.indices, as_int64(g.indices));
        feeds.emplace_back(pg.values, g.values);
      }
    } else if (any_dense) {
      feeds.emplace_back(pg.grad, visit_dtype(pg.piece.type, [&]<class T>() -> tensor {
                           if constexpr (std::is_floating_point_v<T>)
                             return dense_mean<T>(list, pg.piece.shape, divisor);
                           TROUPE_ASSERT(false, "a trainable piece is float32 or float64");
                           return {};
                         }));
    } else {
      auto [indices, values] =
          visit_dtype(pg.piece.type, [&]<class T>() -> std::pair<tensor, tensor> {
            if constexpr (std::is_floating_point_v<T>)
              return sparse_mean<T>(list, pg.piece.shape, divisor);
            TROUPE_ASSERT(false, "a trainable piece is float32 or float64");
            return {};
          });
      feeds.emplace_back(pg.indices, indices);
      feeds.emplace_back(pg.values, values);
    }
    targets.push_back(any_dense ? pg.dense_update : pg.sparse_update);
  }
  if (targets.empty()) return {};
  auto r = session_->run(feeds, {}, targets);
  if (!r) return std::move(r).error_value().with_context("applying the update");
  return {};
}

// ---------------------------------------------------------------- checkpoints

expected<uint64_t> shard_core::save(const std::filesystem::path& dir, int64_t step) {
  auto r = [&]() -> expected<uint64_t> {
    if (!initialized_)
      return make_error(errc::failed_precondition, "not initialized: init or restore first");
    resource_mgr& rm = session_->device().resources();
    auto var = TROUPE_TRY(rm.lookup<variable_resource>("", step_variable));
    TROUPE_TRY(var->assign(tensor::scalar<int64_t>(step), step_variable));
    auto store = TROUPE_TRY(checkpoint_store::open(dir, opts_.checkpoints));
    checkpoint_info info = TROUPE_TRY(store->save(session_->device().resources(), "", step));
    return info.id;
  }();
  if (!r)
    return std::move(r).error_value().with_context(str_cat(where_, ": save to ", dir.string()));
  return r;
}

expected<int64_t> shard_core::restore(const std::filesystem::path& dir) {
  auto r = [&]() -> expected<int64_t> {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
      return make_error(errc::not_found, "no checkpoint directory '", dir.string(), "'");
    auto store = TROUPE_TRY(checkpoint_store::open(dir, opts_.checkpoints));
    restore_options o;
    o.names = state_names();
    auto restored = store->restore(session_->device().resources(), "", o);
    if (!restored) {
      error e = std::move(restored).error_value();
      if (e.code() != errc::not_found || e.message().find(" has no tensor ") == std::string::npos)
        return e;
      return make_error(errc::not_found, e.message(),
                        " (is it the directory of another shard, or of another plan?)");
    }
    restore_report report = std::move(*restored);
    step_ = report.step;
    gathered_.clear();
    initialized_ = true;
    return report.step;
  }();
  if (!r)
    return std::move(r).error_value().with_context(
        str_cat(where_, ": restore from ", dir.string()));
  return r;
}

shard_stats shard_core::stats() const {
  shard_stats s = stats_;
  s.step = step_;
  s.buffered = int(gathered_.size());
  s.initialized = initialized_;
  return s;
}

}  // namespace troupe::actors
