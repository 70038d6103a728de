#include <unordered_map>

#include "runtime/exec/plan.hpp"

namespace troupe::detail {

endpoint plan::resolve(endpoint e) const {
  while (e.node >= 0 && !nodes[size_t(e.node)].forward.empty()) {
    endpoint next = nodes[size_t(e.node)].forward[size_t(e.index)];
    if (next == e) break;
    e = next;
  }
  return e;
}

expected<plan> build_plan(const graph& g, const std::vector<endpoint>& feeds,
                          const std::vector<endpoint>& fetches, const std::vector<int>& targets) {
  // Which source nodes are needed: walk back from fetches and targets, stopping at fed
  // endpoints (partial execution).
  std::unordered_map<int64_t, int> feed_of;  // node << 16 | index -> feed index
  auto key = [](endpoint e) { return (int64_t(e.node) << 16) | e.index; };
  for (size_t i = 0; i < feeds.size(); ++i) feed_of[key(feeds[i])] = int(i);

  std::vector<char> needed(size_t(g.num_nodes()), 0);
  std::vector<int> stack;
  auto want = [&](int id) {
    if (!needed[size_t(id)]) {
      needed[size_t(id)] = 1;
      stack.push_back(id);
    }
  };
  for (endpoint f : fetches)
    if (!feed_of.count(key(f))) want(f.node);
  for (int t : targets) want(t);
  while (!stack.empty()) {
    int id = stack.back();
    stack.pop_back();
    const node& n = g.at(id);
    if (n.op == "placeholder")
      return make_error(errc::invalid_argument, "placeholder '", n.name, "' (",
                        dtype_name(n.output_types[0]), " ", n.output_shapes[0].to_string(),
                        ") must be fed: the fetches or targets need it");
    for (endpoint in : n.inputs)
      if (!feed_of.count(key(in))) want(in.node);
    for (int c : n.control_inputs) want(c);
  }

  plan p;
  p.report.graph_nodes = g.num_nodes();
  // Feed nodes first, then the needed nodes in graph order (already topological).
  for (size_t i = 0; i < feeds.size(); ++i) {
    plan_node f;
    f.feed_index = int(i);
    f.feed_type = g.type_of(feeds[i]);
    p.nodes.push_back(std::move(f));
  }
  std::vector<int> plan_id(size_t(g.num_nodes()), -1);
  for (int id = 0; id < g.num_nodes(); ++id) {
    if (!needed[size_t(id)]) continue;
    ++p.report.pruned_nodes;
    const node& n = g.at(id);
    plan_node pn;
    pn.n = &n;
    for (endpoint in : n.inputs) {
      auto f = feed_of.find(key(in));
      pn.inputs.push_back(f != feed_of.end() ? endpoint{f->second, 0}
                                             : endpoint{plan_id[size_t(in.node)], in.index});
    }
    for (int c : n.control_inputs) pn.control_inputs.push_back(plan_id[size_t(c)]);
    plan_id[size_t(id)] = int(p.nodes.size());
    p.nodes.push_back(std::move(pn));
  }
  for (endpoint f : fetches) {
    auto it = feed_of.find(key(f));
    p.fetches.push_back(it != feed_of.end() ? endpoint{it->second, 0}
                                            : endpoint{plan_id[size_t(f.node)], f.index});
  }
  for (int t : targets) p.targets.push_back(plan_id[size_t(t)]);
  return p;
}

namespace {

// Rewrites every input of node i to where its producer now lives.
void resolve_inputs(plan& p, plan_node& n) {
  for (endpoint& in : n.inputs) in = p.resolve(in);
  for (int& c : n.control_inputs) {
    endpoint r = p.resolve({c, 0});
    // A control input merged away: depend on the node it was merged into.
    if (r.node >= 0) c = r.node;
  }
}

size_t hash_node(const plan_node& n) {
  size_t h = std::hash<std::string>{}(n.n->op);
  auto mix = [&](size_t v) { h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2); };
  for (const auto& [name, v] : n.n->attrs) {
    mix(std::hash<std::string>{}(name));
    mix(v.hash());
  }
  for (endpoint e : n.inputs) mix((size_t(e.node) << 16) ^ size_t(e.index));
  for (int c : n.control_inputs) mix(size_t(c) * 31);
  mix(std::hash<std::string>{}(n.n->device));
  return h;
}

bool same_node(const plan_node& a, const plan_node& b) {
  return a.n->op == b.n->op && a.n->device == b.n->device && a.inputs == b.inputs &&
         a.control_inputs == b.control_inputs && a.n->attrs == b.n->attrs;
}

}  // namespace

void eliminate_common_subexpressions(plan& p) {
  std::unordered_multimap<size_t, int> seen;
  for (size_t i = 0; i < p.nodes.size(); ++i) {
    plan_node& n = p.nodes[i];
    if (!n.alive || n.n == nullptr) continue;
    resolve_inputs(p, n);
    if (n.n->def->is_stateful()) continue;
    size_t h = hash_node(n);
    bool merged = false;
    auto range = seen.equal_range(h);
    for (auto it = range.first; it != range.second; ++it) {
      if (!same_node(p.nodes[size_t(it->second)], n)) continue;
      n.alive = false;
      for (int o = 0; o < n.num_outputs(); ++o) n.forward.push_back({it->second, o});
      if (n.num_outputs() == 0) n.forward.push_back({it->second, 0});
      ++p.report.cse_removed;
      merged = true;
      break;
    }
    if (!merged) seen.emplace(h, int(i));
  }
  for (endpoint& f : p.fetches) f = p.resolve(f);
  for (int& t : p.targets) t = p.resolve({t, 0}).node;
}

void fold_constants(plan& p, const op_registry& ops, const kernel_registry& kernels,
                    cpu_device& dev, int64_t max_elements) {
  const op_def* const_def = ops.find("const");
  if (const_def == nullptr) return;
  for (size_t i = 0; i < p.nodes.size(); ++i) {
    plan_node& pn = p.nodes[i];
    if (!pn.alive || pn.n == nullptr) continue;
    resolve_inputs(p, pn);
    const node& n = *pn.n;
    if (pn.is_const() || n.def->is_stateful() || n.num_outputs() == 0 || n.op == "placeholder")
      continue;
    bool all_const = !pn.inputs.empty();
    for (endpoint in : pn.inputs) all_const &= p.nodes[size_t(in.node)].is_const();
    for (int c : pn.control_inputs) all_const &= p.nodes[size_t(c)].is_const();
    if (!all_const) continue;

    // Evaluate the node once; a failure is left for the run to report with context.
    auto kernel = kernels.create(n, device_kind::cpu);
    if (!kernel) continue;
    std::vector<const tensor*> in;
    for (endpoint e : pn.inputs) in.push_back(&p.nodes[size_t(e.node)].n->attr<tensor>("value"));
    std::vector<tensor> out(size_t(n.num_outputs()));
    kernel_context ctx(n, in, out, dev, 0);
    error e;
    try {
      e = (*kernel)->compute(ctx);
    } catch (...) {
      continue;
    }
    if (e) continue;
    bool fits = true;
    for (const tensor& t : out) fits &= t.valid() && t.num_elements() <= max_elements;
    if (!fits) continue;

    pn.alive = false;
    ++p.report.folded;
    std::vector<endpoint> forward;
    for (size_t o = 0; o < out.size(); ++o) {
      node& c = p.synthetic.emplace_back();
      c.name = out.size() == 1 ? n.name : str_cat(n.name, ":", o);
      c.op = "const";
      c.def = const_def;
      c.device = n.device;
      c.output_types = {out[o].dtype()};
      c.output_shapes = {partial_shape(out[o].shape())};
      c.attrs = {{"dtype", out[o].dtype()}, {"value", out[o]}};
      plan_node cn;
      cn.n = &c;
      forward.push_back({int(p.nodes.size()), 0});
      // Appended at the end: it has no inputs, and consumers are resolved to it when
      // visited, so the order stays topological for everything that runs.
      p.nodes.push_back(std::move(cn));  // invalidates pn
    }
    p.nodes[i].forward = std::move(forward);
  }
  for (endpoint& f : p.fetches) f = p.resolve(f);
}

void remove_dead_nodes(plan& p) {
  std::vector<char> live(p.nodes.size(), 0);
  std::vector<int> stack;
  auto want = [&](int id) {
    if (id >= 0 && !live[size_t(id)]) {
      live[size_t(id)] = 1;
      stack.push_back(id);
    }
  };
  for (endpoint f : p.fetches) want(f.node);
  for (int t : p.targets) want(t);
  while (!stack.empty()) {
    plan_node& n = p.nodes[size_t(stack.back())];
    stack.pop_back();
    for (endpoint in : n.inputs) want(in.node);
    for (int c : n.control_inputs) want(c);
  }
  int executed = 0;
  for (size_t i = 0; i < p.nodes.size(); ++i) {
    plan_node& n = p.nodes[i];
    if (n.alive && !live[i]) {
      n.alive = false;
      ++p.report.dead_removed;
    }
    if (n.alive) ++executed;
  }
  p.report.executed_nodes = executed;
}

}  // namespace troupe::detail
