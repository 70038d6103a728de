#include "actors/shard/shard_client.hpp"

#include <algorithm>
#include <set>

namespace troupe::actors {
namespace {

// Elements per row of a variable of shape `s` (rank >= 1).
int64_t row_elements(const tensor_shape& s) {
  int64_t n = 1;
  for (int d = 1; d < s.rank(); ++d) n *= s.dim(d);
  return n;
}

// Rows [begin, end) of `t` (rank >= 1) as a new tensor.
tensor copy_rows(const tensor& t, int64_t begin, int64_t end) {
  tensor_shape shape = t.shape();
  shape.set_dim(0, end - begin);
  tensor out(t.dtype(), shape);
  const int64_t row = row_elements(t.shape());
  visit_dtype(t.dtype(), [&]<class T>() {
    const T* src = t.data<T>() + begin * row;
    std::copy(src, src + (end - begin) * row, out.data<T>());
  });
  return out;
}

// Copies `n` rows of `row` elements: src row i to dst row at[i].
void scatter_rows(const tensor& src, tensor& dst, const std::vector<int64_t>& at, int64_t row) {
  visit_dtype(src.dtype(), [&]<class T>() {
    const T* s = src.data<T>();
    T* d = dst.data<T>();
    for (size_t i = 0; i < at.size(); ++i)
      std::copy(s + int64_t(i) * row, s + int64_t(i + 1) * row, d + at[i] * row);
  });
}

int64_t index_at(const tensor& indices, int64_t i) {
  return indices.dtype() == dtype::int64 ? indices.data<int64_t>()[i]
                                         : int64_t(indices.data<int32_t>()[i]);
}

// The piece (index into `pieces`, in row order) holding `row`.
size_t piece_of_row(std::span<const shard_piece> pieces, int64_t row) {
  auto it = std::upper_bound(pieces.begin(), pieces.end(), row,
                             [](int64_t r, const shard_piece& p) { return r < p.row_begin; });
  return size_t(it - pieces.begin()) - 1;
}

expected<const variable_spec*> find_variable(const shard_plan& plan, const std::string& name) {
  const variable_spec* v = plan.find(name);
  if (!v) return make_error(errc::not_found, "shard plan: no variable '", name, "'");
  return v;
}

// Checks that every index is a row of `v`: invalid_argument naming the first that is not.
error check_indices(const variable_spec& v, const tensor& indices, const std::string& what) {
  TROUPE_REQUIRE(indices.valid() && (indices.dtype() == dtype::int32 ||
                                     indices.dtype() == dtype::int64),
                 what, ": indices must be int32 or int64, got ",
                 indices.valid() ? dtype_name(indices.dtype()) : "an invalid tensor");
  const int64_t rows = v.shape.dim(0);
  for (int64_t i = 0; i < indices.num_elements(); ++i) {
    const int64_t r = index_at(indices, i);
    TROUPE_REQUIRE(r >= 0 && r < rows, what, ": row index ", r, " at position ", i,
                   " is out of range for variable '", v.name, "' with ", rows,
                   " rows (valid: [0, ", rows, "))");
  }
  return {};
}

error check_gradient(const variable_spec& v, const variable_gradient& g) {
  const std::string what = str_cat("the gradient of '", v.name, "'");
  const bool dense = g.dense.valid();
  TROUPE_REQUIRE(dense != (g.indices.valid() || g.values.valid()) &&
                     (dense || (g.indices.valid() && g.values.valid())),
                 what, " must be either dense or sparse (indices and values)");
  if (dense) {
    TROUPE_REQUIRE(g.dense.dtype() == v.type && g.dense.shape() == v.shape, what, " must be ",
                   dtype_name(v.type), " ", v.shape.to_string(), ", got ",
                   dtype_name(g.dense.dtype()), " ", g.dense.shape().to_string());
    return {};
  }
  TROUPE_REQUIRE(v.shape.rank() >= 1, what, ": a scalar has no rows");
  TROUPE_REQUIRE(g.indices.rank() == 1, what, ": indices must be a vector, got shape ",
                 g.indices.shape().to_string());
  bool rows_match = g.values.dtype() == v.type && g.values.rank() == v.shape.rank() &&
                    g.values.dim(0) == g.indices.dim(0);
  for (int d = 1; rows_match && d < v.shape.rank(); ++d)
    rows_match = g.values.dim(d) == v.shape.dim(d);
  if (!rows_match) {
    tensor_shape want = v.shape;
    want.set_dim(0, g.indices.dim(0));
    return make_error(errc::invalid_argument, what, ": values must be ", dtype_name(v.type), " ",
                      want.to_string(), " (one row per index), got ",
                      dtype_name(g.values.dtype()), " ", g.values.shape().to_string());
  }
  return check_indices(v, g.indices, what);
}

}  // namespace

// ---------------------------------------------------------------- splitting

expected<std::vector<std::vector<piece_value>>> split_values(const shard_plan& plan,
                                                             const std::vector<piece_value>& values,
                                                             bool all) {
  std::set<std::string> seen;
  for (const piece_value& pv : values) {
    const variable_spec* v = TROUPE_TRY(find_variable(plan, pv.name));
    TROUPE_REQUIRE(seen.insert(pv.name).second, "the value of '", pv.name, "' is given twice");
    TROUPE_REQUIRE(pv.value.valid() && pv.value.dtype() == v->type && pv.value.shape() == v->shape,
                   "the value of '", pv.name, "' must be ", dtype_name(v->type), " ",
                   v->shape.to_string(), ", got ",
                   pv.value.valid() ? str_cat(dtype_name(pv.value.dtype()), " ",
                                              pv.value.shape().to_string())
                                    : std::string("an invalid tensor"));
  }
  if (all) {
    std::string missing;
    for (const variable_spec& v : plan.variables())
      if (!seen.contains(v.name)) missing += str_cat(missing.empty() ? "'" : ", '", v.name, "'");
    TROUPE_REQUIRE(missing.empty(), "init needs the value of every variable; missing: ", missing);
  }
  std::vector<std::vector<piece_value>> out(static_cast<size_t>(plan.num_shards()));
  for (const piece_value& pv : values) {
    for (const shard_piece& p : plan.pieces_of(pv.name)) {
      tensor t = p.split ? copy_rows(pv.value, p.row_begin, p.row_end) : pv.value;
      out[size_t(p.shard)].push_back({pv.name, std::move(t)});
    }
  }
  return out;
}

expected<std::vector<std::vector<piece_gradient>>> split_gradients(
    const shard_plan& plan, const std::vector<variable_gradient>& grads) {
  std::set<std::string> seen;
  for (const variable_gradient& g : grads) {
    const variable_spec* v = TROUPE_TRY(find_variable(plan, g.name));
    TROUPE_REQUIRE(seen.insert(g.name).second, "the gradient of '", g.name, "' is given twice");
    TROUPE_TRY(check_gradient(*v, g));
  }
  std::vector<std::vector<piece_gradient>> out(static_cast<size_t>(plan.num_shards()));
  for (const variable_gradient& g : grads) {
    std::span<const shard_piece> pieces = plan.pieces_of(g.name);
    if (pieces.size() == 1 && !pieces[0].split) {  // whole: as given
      out[size_t(pieces[0].shard)].push_back({g.name, g.dense, g.indices, g.values});
      continue;
    }
    if (g.dense.valid()) {
      for (const shard_piece& p : pieces)
        out[size_t(p.shard)].push_back({.name = g.name,
                                        .dense = copy_rows(g.dense, p.row_begin, p.row_end)});
      continue;
    }
    // Sparse: each index to its piece, in the order given.
    std::vector<std::vector<int64_t>> local(pieces.size()), position(pieces.size());
    for (int64_t i = 0; i < g.indices.num_elements(); ++i) {
      const int64_t r = index_at(g.indices, i);
      const size_t k = piece_of_row(pieces, r);
      local[k].push_back(r - pieces[k].row_begin);
      position[k].push_back(i);
    }
    const int64_t row = row_elements(g.values.shape());
    for (size_t k = 0; k < pieces.size(); ++k) {
      const int64_t n = int64_t(local[k].size());
      tensor indices = tensor::from_vector<int64_t>({n}, local[k]);
      tensor_shape vshape = g.values.shape();
      vshape.set_dim(0, n);
      tensor values(g.values.dtype(), vshape);
      visit_dtype(values.dtype(), [&]<class T>() {
        const T* src = g.values.data<T>();
        T* dst = values.data<T>();
        for (int64_t j = 0; j < n; ++j)
          std::copy(src + position[k][size_t(j)] * row, src + (position[k][size_t(j)] + 1) * row,
                    dst + j * row);
      });
      out[size_t(pieces[k].shard)].push_back(
          {.name = g.name, .indices = std::move(indices), .values = std::move(values)});
    }
  }
  return out;
}

expected<tensor> assemble(const shard_plan& plan, const std::string& name,
                          const std::vector<tensor>& values) {
  const variable_spec* v = TROUPE_TRY(find_variable(plan, name));
  std::span<const shard_piece> pieces = plan.pieces_of(name);
  if (values.size() != pieces.size())
    return make_error(errc::internal, "assembling '", name, "': ", values.size(),
                      " values for ", pieces.size(), " pieces");
  for (size_t k = 0; k < pieces.size(); ++k) {
    const tensor& t = values[k];
    if (!t.valid() || t.dtype() != pieces[k].type || !(t.shape() == pieces[k].shape))
      return make_error(errc::internal, "assembling '", name, "': piece ", k, " is ",
                        t.valid() ? str_cat(dtype_name(t.dtype()), " ", t.shape().to_string())
                                  : std::string("invalid"),
                        ", expected ", dtype_name(pieces[k].type), " ",
                        pieces[k].shape.to_string());
  }
  if (pieces.size() == 1 && !pieces[0].split) return values[0];
  tensor out(v->type, v->shape);
  const int64_t row = row_elements(v->shape);
  visit_dtype(v->type, [&]<class T>() {
    for (size_t k = 0; k < pieces.size(); ++k)
      std::copy(values[k].data<T>(), values[k].data<T>() + values[k].num_elements(),
                out.data<T>() + pieces[k].row_begin * row);
  });
  return out;
}

expected<row_routes> route_rows(const shard_plan& plan, const std::string& name,
                                const tensor& indices) {
  const variable_spec* v = TROUPE_TRY(find_variable(plan, name));
  TROUPE_REQUIRE(v->shape.rank() >= 1, "pull_rows: variable '", name, "' is a scalar");
  TROUPE_TRY(check_indices(*v, indices, str_cat("pull_rows of '", name, "'")));
  std::span<const shard_piece> pieces = plan.pieces_of(name);
  std::vector<std::vector<int64_t>> local(pieces.size());
  row_routes routes;
  routes.positions.resize(pieces.size());
  for (int64_t i = 0; i < indices.num_elements(); ++i) {
    const int64_t r = index_at(indices, i);
    const size_t k = piece_of_row(pieces, r);
    local[k].push_back(r - pieces[k].row_begin);
    routes.positions[k].push_back(i);
  }
  for (size_t k = 0; k < pieces.size(); ++k) {
    routes.local.push_back(local[k].empty() ? tensor()
                                            : tensor::from_vector<int64_t>(
                                                  {int64_t(local[k].size())}, local[k]));
  }
  std::vector<int64_t> dims = indices.shape().to_vector();
  for (int d = 1; d < v->shape.rank(); ++d) dims.push_back(v->shape.dim(d));
  routes.result_shape = TROUPE_TRY(tensor_shape::make(dims));
  return routes;
}

expected<tensor> gather_routed(const shard_plan& plan, const std::string& name,
                               const row_routes& routes, const std::vector<tensor>& rows) {
  const variable_spec* v = TROUPE_TRY(find_variable(plan, name));
  const int64_t row = row_elements(v->shape);
  tensor out(v->type, routes.result_shape);
  for (size_t k = 0; k < routes.positions.size(); ++k) {
    if (routes.positions[k].empty()) continue;
    const tensor& t = rows[k];
    if (!t.valid() || t.dtype() != v->type ||
        t.num_elements() != int64_t(routes.positions[k].size()) * row)
      return make_error(errc::internal, "pull_rows of '", name, "': piece ", k, " answered ",
                        t.valid() ? t.shape().to_string() : "nothing", " for ",
                        routes.positions[k].size(), " rows");
    scatter_rows(t, out, routes.positions[k], row);
  }
  return out;
}

// ---------------------------------------------------------------- the client

shard_client::shard_client(caf::actor_system& sys, std::shared_ptr<const shard_plan> plan,
                           std::vector<parameter_shard_actor> shards,
                           std::chrono::milliseconds timeout)
    : plan_(std::move(plan)), shards_(std::move(shards)), timeout_(timeout), self_(sys) {
  TROUPE_ASSERT(int(shards_.size()) == plan_->num_shards(), "shard_client: ", shards_.size(),
                " shard actors for a plan of ", plan_->num_shards(), " shards");
}

std::filesystem::path shard_client::shard_dir(const std::filesystem::path& base, int shard) {
  return base / str_cat("shard-", shard);
}

std::vector<int> shard_client::all_shards() const {
  std::vector<int> out(shards_.size());
  for (size_t s = 0; s < out.size(); ++s) out[s] = int(s);
  return out;
}

// Sends send(s) to each shard s of `shards` at once, then receives every answer in turn.
template <class R, class Send>
expected<std::vector<R>> shard_client::ask(const std::vector<int>& shards, Send send) {
  using handle = decltype(send(0));
  std::vector<handle> handles;
  handles.reserve(shards.size());
  for (int s : shards) handles.push_back(send(s));
  std::vector<R> out(shards.size());
  error first;
  for (size_t i = 0; i < handles.size(); ++i) {
    handles[i].receive([&](R& r) { out[i] = std::move(r); },
                       [&](caf::error& e) {
                         error mine = from_caf(e);
                         // CAF's own errors do not name the shard; troupe's do.
                         if (e.category() != error_category)
                           mine = std::move(mine).with_context(
                               str_cat("parameter shard ", shards[i]));
                         if (!first) first = std::move(mine);
                       });
  }
  if (first) return first;
  return out;
}

error shard_client::init(const std::vector<piece_value>& values) {
  auto split = TROUPE_TRY(split_values(*plan_, values, true));
  TROUPE_TRY(ask<int64_t>(all_shards(), [&](int s) {
    return self_->request(shards_[size_t(s)], timeout_, init_atom::value, split[size_t(s)]);
  }));
  return {};
}

error shard_client::assign(const std::vector<piece_value>& values) {
  auto split = TROUPE_TRY(split_values(*plan_, values, false));
  std::vector<int> which;
  for (int s = 0; s < plan_->num_shards(); ++s)
    if (!split[size_t(s)].empty()) which.push_back(s);
  TROUPE_TRY(ask<int64_t>(which, [&](int s) {
    return self_->request(shards_[size_t(s)], timeout_, assign_atom::value, split[size_t(s)]);
  }));
  return {};
}

expected<std::vector<tensor>> shard_client::pull(int64_t step,
                                                 const std::vector<std::string>& names) {
  // What to ask each shard, and where each answer goes: (variable, piece) by shard.
  std::vector<std::vector<std::string>> asks(shards_.size());
  std::vector<std::vector<std::pair<size_t, size_t>>> places(shards_.size());
  std::vector<std::vector<tensor>> pieces(names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    TROUPE_TRY(find_variable(*plan_, names[i]));
    std::span<const shard_piece> ps = plan_->pieces_of(names[i]);
    pieces[i].resize(ps.size());
    for (size_t k = 0; k < ps.size(); ++k) {
      asks[size_t(ps[k].shard)].push_back(names[i]);
      places[size_t(ps[k].shard)].emplace_back(i, k);
    }
  }
  std::vector<int> which;
  for (int s = 0; s < plan_->num_shards(); ++s)
    if (!asks[size_t(s)].empty()) which.push_back(s);
  auto answers = TROUPE_TRY(ask<shard_values>(which, [&](int s) {
    return self_->request(shards_[size_t(s)], timeout_, pull_atom::value, step, asks[size_t(s)]);
  }));
  for (size_t j = 0; j < which.size(); ++j) {
    const auto& where = places[size_t(which[j])];
    if (answers[j].values.size() != where.size())
      return make_error(errc::internal, "parameter shard ", which[j], " answered ",
                        answers[j].values.size(), " values for ", where.size(), " pieces");
    for (size_t n = 0; n < where.size(); ++n)
      pieces[where[n].first][where[n].second] = std::move(answers[j].values[n]);
  }
  std::vector<tensor> out;
  for (size_t i = 0; i < names.size(); ++i)
    out.push_back(TROUPE_TRY(assemble(*plan_, names[i], pieces[i])));
  return out;
}

expected<tensor> shard_client::pull(int64_t step, const std::string& name) {
  auto r = TROUPE_TRY(pull(step, std::vector<std::string>{name}));
  return r[0];
}

expected<tensor> shard_client::pull_rows(int64_t step, const std::string& name,
                                         const tensor& indices) {
  row_routes routes = TROUPE_TRY(route_rows(*plan_, name, indices));
  std::span<const shard_piece> pieces = plan_->pieces_of(name);
  std::vector<int> which;
  std::vector<size_t> piece_of;  // by shard asked
  for (size_t k = 0; k < pieces.size(); ++k) {
    if (routes.positions[k].empty()) continue;
    which.push_back(pieces[k].shard);
    piece_of.push_back(k);
  }
  size_t next = 0;
  auto answers = TROUPE_TRY(ask<tensor>(which, [&](int s) {
    const size_t k = piece_of[next++];
    return self_->request(shards_[size_t(s)], timeout_, pull_rows_atom::value, step, name,
                          routes.local[k]);
  }));
  std::vector<tensor> rows(pieces.size());
  for (size_t j = 0; j < which.size(); ++j) rows[piece_of[j]] = std::move(answers[j]);
  return gather_routed(*plan_, name, routes, rows);
}

expected<std::vector<push_ack>> shard_client::push(int64_t step, int replica,
                                                   const std::vector<variable_gradient>& grads) {
  auto split = TROUPE_TRY(split_gradients(*plan_, grads));
  return ask<push_ack>(all_shards(), [&](int s) {
    return self_->request(shards_[size_t(s)], timeout_, push_atom::value, step, int32_t(replica),
                          split[size_t(s)]);
  });
}

expected<std::vector<int64_t>> shard_client::save(const std::filesystem::path& base,
                                                  int64_t step) {
  return ask<int64_t>(all_shards(), [&](int s) {
    return self_->request(shards_[size_t(s)], timeout_, save_atom::value,
                          shard_dir(base, s).string(), step);
  });
}

expected<int64_t> shard_client::restore(const std::filesystem::path& base) {
  auto steps = TROUPE_TRY(ask<int64_t>(all_shards(), [&](int s) {
    return self_->request(shards_[size_t(s)], timeout_, restore_atom::value,
                          shard_dir(base, s).string());
  }));
  if (std::adjacent_find(steps.begin(), steps.end(), std::not_equal_to<>()) != steps.end()) {
    std::string all;
    for (size_t s = 0; s < steps.size(); ++s)
      all += str_cat(s == 0 ? "" : ", ", "shard ", s, ": ", steps[s]);
    return make_error(errc::failed_precondition, "restore from ", base.string(),
                      ": the shards restored different steps (", all,
                      "); a save did not reach every shard");
  }
  return steps.empty() ? int64_t(0) : steps[0];
}

expected<std::vector<shard_stats>> shard_client::stats() {
  return ask<shard_stats>(all_shards(), [&](int s) {
    return self_->request(shards_[size_t(s)], timeout_, stats_atom::value);
  });
}

}  // namespace troupe::actors
