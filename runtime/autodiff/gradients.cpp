#include "runtime/autodiff/gradients.hpp"

#include <map>

#include "runtime/ops/array_ops.hpp"
#include "runtime/ops/grad_ops.hpp"
#include "runtime/ops/math_ops.hpp"

namespace troupe {

// Note [Automatic differentiation]
// add_gradients extends the graph backwards, as TensorFlow's tf.gradients does:
//  1. It marks the nodes between xs and ys: reachable forwards from an x and backwards
//     from a y. Nodes are numbered in the order they were added, so every node comes
//     after its inputs and a walk by decreasing id visits a node after all its
//     consumers.
//  2. It seeds each y with grad_ys (ones by default) and walks the marked nodes by
//     decreasing id. At a node, the gradients arriving at each output are summed (sparse
//     ones by concatenating their rows, mixed ones densified), the op's gradient
//     function builds the gradients of its inputs, and those go to the producers.
//  3. The gradient of each x is the sum arriving at it.
// Only float32 and float64 edges carry gradients, so indices and masks stop the walk.

namespace {

bool is_float(dtype t) { return t == dtype::float32 || t == dtype::float64; }

output to_int64(const scope& s, output x) {
  return x.type() == dtype::int64 ? x : ops::cast(s, x, dtype::int64);
}

// The sum of several gradients of one endpoint.
gradient sum_of(const scope& s, const std::vector<gradient>& gs) {
  std::vector<gradient> valid;
  for (const gradient& g : gs)
    if (g.valid()) valid.push_back(g);
  if (valid.empty()) return {};
  if (valid.size() == 1) return valid[0];
  bool all_sparse = true;
  for (const gradient& g : valid) all_sparse = all_sparse && g.is_sparse();
  if (all_sparse) {
    std::vector<output> indices, values;
    for (const gradient& g : valid) {
      indices.push_back(to_int64(s, g.indices));
      values.push_back(g.values);
    }
    return {.indices = ops::concat(s, indices, 0),
            .values = ops::concat(s, values, 0),
            .dense_like = valid[0].dense_like};
  }
  output total = to_dense(s, valid[0]);
  for (size_t i = 1; i < valid.size(); ++i) total = ops::add(s, total, to_dense(s, valid[i]));
  return gradient::of(total);
}

}  // namespace

output to_dense(const scope& s, const gradient& g) {
  if (!g.valid()) return {};
  if (!g.is_sparse()) return g.dense;
  return ops::scatter_add_like(s, g.values, g.indices, g.dense_like, 0);
}

grad_context::grad_context(const scope& s, graph& g, int node_id, std::vector<gradient> out_grads,
                           std::vector<bool> wanted)
    : scope_(s), graph_(&g), node_(node_id), out_grads_(std::move(out_grads)),
      wanted_(std::move(wanted)), in_grads_(wanted_.size()) {}

output grad_context::input(int i) const { return output{graph_, forward().inputs[size_t(i)]}; }

output grad_context::out(int i) const { return output{graph_, {node_, i}}; }

output grad_context::dense_grad(int i) {
  const gradient& g = grad(i);
  if (!g.valid()) return ops::zeros_like(scope_, out(i));
  return to_dense(scope_, g);
}

void grad_context::set(int i, output g) {
  if (!wants(i)) return;
  in_grads_[size_t(i)] = gradient::of(g);
}

void grad_context::set_sparse(int i, output indices, output values) {
  if (!wants(i)) return;
  in_grads_[size_t(i)] = {.indices = indices, .values = values, .dense_like = input(i)};
}

expected<std::vector<gradient>> add_gradients(const scope& s, const std::vector<output>& ys,
                                              const std::vector<output>& xs,
                                              const std::vector<output>& grad_ys) {
  graph& g = s.g();
  TROUPE_REQUIRE(!ys.empty(), "add_gradients: no ys given");
  TROUPE_REQUIRE(grad_ys.empty() || grad_ys.size() == ys.size(), "add_gradients: ", ys.size(),
                 " ys but ", grad_ys.size(), " grad_ys");
  auto check = [&](const output& o, std::string_view what, size_t i) -> error {
    TROUPE_REQUIRE(o.valid(), "add_gradients: ", what, "[", i, "] is invalid (the op that should ",
                   "have produced it failed)");
    TROUPE_REQUIRE(o.g == &g, "add_gradients: ", what, "[", i, "] belongs to another graph");
    return {};
  };
  for (size_t i = 0; i < ys.size(); ++i) {
    TROUPE_TRY(check(ys[i], "ys", i));
    TROUPE_REQUIRE(is_float(ys[i].type()), "add_gradients: ys[", i, "] ('", ys[i].name(), "') is ",
                   dtype_name(ys[i].type()), "; only float32 and float64 can be differentiated");
    if (!grad_ys.empty()) {
      TROUPE_TRY(check(grad_ys[i], "grad_ys", i));
      TROUPE_REQUIRE(grad_ys[i].type() == ys[i].type(), "add_gradients: grad_ys[", i, "] is ",
                     dtype_name(grad_ys[i].type()), " but ys[", i, "] is ",
                     dtype_name(ys[i].type()));
    }
  }
  for (size_t i = 0; i < xs.size(); ++i) TROUPE_TRY(check(xs[i], "xs", i));

  // 1. The nodes between xs and ys.
  int n = g.num_nodes();
  std::vector<char> from_x(size_t(n), 0), to_y(size_t(n), 0);
  for (const output& x : xs) from_x[size_t(x.ep.node)] = 1;
  for (int id = 0; id < n; ++id) {
    if (from_x[size_t(id)]) continue;
    for (const endpoint& e : g.at(id).inputs) {
      if (from_x[size_t(e.node)] && is_float(g.type_of(e))) {
        from_x[size_t(id)] = 1;
        break;
      }
    }
  }
  for (const output& y : ys) to_y[size_t(y.ep.node)] = 1;
  for (int id = n - 1; id >= 0; --id) {
    if (!to_y[size_t(id)]) continue;
    for (const endpoint& e : g.at(id).inputs) to_y[size_t(e.node)] = 1;
  }

  // 2. Seed and walk back.
  std::map<std::pair<int, int>, std::vector<gradient>> pending;
  std::map<std::pair<int, int>, gradient> summed;  // the total at each visited endpoint
  scope gs = s;
  for (size_t i = 0; i < ys.size(); ++i) {
    output seed = grad_ys.empty() ? ops::ones_like(gs.sub("seed"), ys[i]) : grad_ys[i];
    pending[{ys[i].ep.node, ys[i].ep.index}].push_back(gradient::of(seed));
  }
  int top = 0;
  for (const output& y : ys) top = std::max(top, y.ep.node);
  for (int id = top; id >= 0; --id) {
    if (!from_x[size_t(id)] || !to_y[size_t(id)]) continue;
    const node& nd = g.at(id);
    std::vector<gradient> out_grads(size_t(nd.num_outputs()));
    bool any = false;
    for (int o = 0; o < nd.num_outputs(); ++o) {
      auto it = pending.find({id, o});
      if (it == pending.end()) continue;
      scope sum_scope = gs.sub(nd.name);
      out_grads[size_t(o)] = sum_of(sum_scope, it->second);
      summed[{id, o}] = out_grads[size_t(o)];
      pending.erase(it);
      any = any || out_grads[size_t(o)].valid();
    }
    if (!any) continue;
    // Which inputs lead back to an x along float edges.
    std::vector<bool> wanted(nd.inputs.size(), false);
    bool any_wanted = false;
    for (size_t i = 0; i < nd.inputs.size(); ++i) {
      const endpoint& e = nd.inputs[i];
      wanted[i] = from_x[size_t(e.node)] && is_float(g.type_of(e));
      any_wanted = any_wanted || wanted[i];
    }
    if (!any_wanted) continue;  // an x itself, or a node fed only by constants
    const grad_fn& fn = nd.def->spec().grad;
    if (!fn) {
      return make_error(errc::unimplemented, "add_gradients: op '", nd.op, "' (node '", nd.name,
                        "') has no gradient function, and it lies on a path from xs to ys");
    }
    grad_context ctx(gs.sub(nd.name), g, id, std::move(out_grads), std::move(wanted));
    if (error e = fn(ctx)) {
      return make_error(e.code(), "add_gradients: the gradient of node '", nd.name, "' (", nd.op,
                        "): ", e.message());
    }
    TROUPE_TRY(s.status());
    const std::vector<gradient>& in_grads = ctx.input_grads();
    for (size_t i = 0; i < nd.inputs.size(); ++i) {
      if (!in_grads[i].valid()) continue;
      const endpoint& e = nd.inputs[i];
      pending[{e.node, e.index}].push_back(in_grads[i]);
    }
  }

  // 3. The gradient of each x.
  std::vector<gradient> result;
  for (const output& x : xs) {
    std::pair<int, int> key{x.ep.node, x.ep.index};
    auto done = summed.find(key);
    if (done != summed.end()) {
      result.push_back(done->second);
      continue;
    }
    auto it = pending.find(key);
    result.push_back(it == pending.end() ? gradient{} : sum_of(gs.sub("sum"), it->second));
  }
  TROUPE_TRY(s.status());
  return result;
}

}  // namespace troupe
