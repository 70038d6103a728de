#include "runtime/ops/queue_ops.hpp"

#include "runtime/exec/queue.hpp"
#include "runtime/ops/shape_fns.hpp"

namespace troupe {
namespace {

// Whether some tensor shape has both partial shapes.
bool compatible(const partial_shape& a, const partial_shape& b) {
  if (!a.rank_known() || !b.rank_known()) return true;
  if (a.rank() != b.rank()) return false;
  for (int i = 0; i < a.rank(); ++i)
    if (a.dim(i) >= 0 && b.dim(i) >= 0 && a.dim(i) != b.dim(i)) return false;
  return true;
}

// `s` with a leading dimension `d` (-1 = unknown); unknown rank stays unknown.
partial_shape with_leading(int64_t d, const partial_shape& s) {
  if (!s.rank_known() || s.rank() >= max_rank) return partial_shape::unknown();
  std::vector<int64_t> dims{d};
  dims.insert(dims.end(), s.dims().begin(), s.dims().end());
  return partial_shape(std::span<const int64_t>(dims));
}

// The queue's declared shapes, one per component of `types`, or empty.
expected<std::vector<partial_shape>> declared_shapes(const shape_context& c, size_t components) {
  auto shapes = TROUPE_TRY(decode_queue_shapes(c.attr<std::vector<int64_t>>("shapes")));
  TROUPE_REQUIRE(shapes.empty() || shapes.size() == components, "queue '",
                 c.attr<std::string>("queue"), "': attribute 'shapes' describes ", shapes.size(),
                 " components but there are ", components);
  return shapes;
}

error check_target(const shape_context& c) {
  TROUPE_REQUIRE(!c.attr<std::string>("queue").empty(), "attribute 'queue' is empty");
  return {};
}

// fifo_queue / random_shuffle_queue: the configuration must be valid.
error create_shape(shape_context& c) {
  TROUPE_TRY(check_target(c));
  queue_config config;
  config.component_types = c.attr<std::vector<dtype>>("component_types");
  config.shapes = TROUPE_TRY(decode_queue_shapes(c.attr<std::vector<int64_t>>("shapes")));
  config.capacity = c.attr<int64_t>("capacity");
  config.shuffle = c.this_node().op == "random_shuffle_queue";
  if (config.shuffle) config.min_after_dequeue = c.attr<int64_t>("min_after_dequeue");
  return config.validate(c.attr<std::string>("queue"));
}

// queue_enqueue (batched = false) and queue_enqueue_many (true): the components must fit
// the shapes the builder copied from the queue, where known.
template <bool Batched>
error enqueue_shape(shape_context& c) {
  TROUPE_TRY(check_target(c));
  const std::string& q = c.attr<std::string>("queue");
  TROUPE_REQUIRE(c.num_inputs() > 0, "queue '", q, "': an element needs at least one component");
  auto shapes = TROUPE_TRY(declared_shapes(c, size_t(c.num_inputs())));
  int64_t rows = -1;
  int rows_from = -1;
  for (int i = 0; i < c.num_inputs(); ++i) {
    const partial_shape& in = c.input(i);
    if (Batched && in.rank_known()) {
      TROUPE_REQUIRE(in.rank() >= 1, "queue '", q, "': enqueue_many splits components along ",
                     "dimension 0, but component ", i, " is a scalar");
      if (in.dim(0) >= 0 && rows >= 0)
        TROUPE_REQUIRE(in.dim(0) == rows, "queue '", q, "': enqueue_many needs one batch size, ",
                       "but component ", rows_from, " has ", rows, " rows and component ", i,
                       " has ", in.dim(0), " (shapes ", c.input(rows_from).to_string(), " and ",
                       in.to_string(), ")");
      if (in.dim(0) >= 0 && rows < 0) {
        rows = in.dim(0);
        rows_from = i;
      }
    }
    if (shapes.empty()) continue;
    const partial_shape want = Batched ? with_leading(-1, shapes[size_t(i)]) : shapes[size_t(i)];
    TROUPE_REQUIRE(compatible(want, in), "queue '", q, "': component ", i, " must have shape ",
                   want.to_string(),
                   Batched ? str_cat(" (a batch of ", shapes[size_t(i)].to_string(), ")") : "",
                   ", got ", in.to_string());
  }
  return {};
}

error dequeue_shape(shape_context& c) {
  TROUPE_TRY(check_target(c));
  TROUPE_REQUIRE(c.num_outputs() > 0, "queue '", c.attr<std::string>("queue"),
                 "': component_types is empty");
  auto shapes = TROUPE_TRY(declared_shapes(c, size_t(c.num_outputs())));
  for (size_t i = 0; i < shapes.size(); ++i) c.set_output(int(i), shapes[i]);
  return {};
}

error dequeue_many_shape(shape_context& c) {
  TROUPE_TRY(check_target(c));
  const int64_t n = c.attr<int64_t>("n");
  TROUPE_REQUIRE(n >= 1, "queue '", c.attr<std::string>("queue"), "': n must be >= 1, got ", n);
  TROUPE_REQUIRE(c.num_outputs() > 0, "queue '", c.attr<std::string>("queue"),
                 "': component_types is empty");
  auto shapes = TROUPE_TRY(declared_shapes(c, size_t(c.num_outputs())));
  const int64_t rows = c.attr<bool>("allow_smaller_final_batch") ? -1 : n;
  for (int i = 0; i < c.num_outputs(); ++i)
    c.set_output(i, with_leading(rows, shapes.empty() ? partial_shape::unknown()
                                                      : shapes[size_t(i)]));
  return {};
}

error target_only(shape_context& c) { return check_target(c); }

error size_shape(shape_context& c) {
  TROUPE_TRY(check_target(c));
  return shape_fns::scalar(c);
}

}  // namespace

void register_queue_ops(op_registry& reg) {
  auto ok = [](error e) { TROUPE_ASSERT(!e, e.message()); };
  const std::string target = "; queue: string; container: string = \"\"";
  const std::string config =
      "component_types: list(type); shapes: list(int) = []; capacity: int = -1" + target;
  ok(reg.add({.signature = "fifo_queue() -> (); " + config,
              .shape = create_shape,
              .is_stateful = true,
              .doc = "Creates a FIFO queue unless it exists (then its configuration must match)."}));
  ok(reg.add({.signature = "random_shuffle_queue() -> (); " + config +
                           "; min_after_dequeue: int = 0; seed: int = 0",
              .shape = create_shape,
              .is_stateful = true,
              .doc = "Creates a random-shuffle queue unless it exists (then its configuration "
                     "must match)."}));
  ok(reg.add({.signature = "queue_enqueue(components: Tcomponents) -> (); "
                           "Tcomponents: list(type); shapes: list(int) = []" + target,
              .shape = enqueue_shape<false>,
              .is_stateful = true,
              .doc = "Adds one element to a queue; blocks while it is full."}));
  ok(reg.add({.signature = "queue_enqueue_many(components: Tcomponents) -> (); "
                           "Tcomponents: list(type); shapes: list(int) = []" + target,
              .shape = enqueue_shape<true>,
              .is_stateful = true,
              .doc = "Adds the slices of the components along dimension 0 as elements."}));
  ok(reg.add({.signature = "queue_dequeue() -> (components: component_types); "
                           "component_types: list(type); shapes: list(int) = []" + target,
              .shape = dequeue_shape,
              .is_stateful = true,
              .doc = "Takes one element; out_of_range once the queue is closed and empty."}));
  ok(reg.add({.signature = "queue_dequeue_many() -> (components: component_types); n: int; "
                           "allow_smaller_final_batch: bool = false; "
                           "component_types: list(type); shapes: list(int) = []" + target,
              .shape = dequeue_many_shape,
              .is_stateful = true,
              .doc = "Takes n elements stacked along a new dimension 0; out_of_range when the "
                     "queue is closed with fewer left."}));
  ok(reg.add({.signature = "queue_close() -> (); cancel_pending_enqueues: bool = false" + target,
              .shape = target_only,
              .is_stateful = true,
              .doc = "Closes a queue: enqueues fail, waiting dequeues wake."}));
  ok(reg.add({.signature = "queue_size() -> (size: int32)" + target,
              .shape = size_shape,
              .is_stateful = true,
              .doc = "The number of elements a queue holds."}));
}

namespace {

queue make_queue(const scope& s, const std::string& op, const std::string& name,
                 std::vector<dtype> component_types, std::vector<partial_shape> shapes,
                 const std::string& container, attr_map attrs) {
  queue q;
  q.name = s.full_name(name);
  q.container = container;
  q.component_types = std::move(component_types);
  q.shapes = std::move(shapes);
  attrs["component_types"] = q.component_types;
  attrs["shapes"] = encode_queue_shapes(q.shapes);
  attrs["queue"] = q.name;
  attrs["container"] = container;
  q.create = s.with_name(name).add(op, {}, std::move(attrs));
  return q;
}

// The attributes naming the queue, for its ops.
attr_map target_of(const queue& q) { return {{"queue", q.name}, {"container", q.container}}; }

// The scope for an op of `q`: after its creation node. Records an error if q is invalid.
scope after_create(const scope& s, const queue& q) { return s.with_control_deps({q.create}); }

}  // namespace

queue make_fifo_queue(const scope& s, const std::string& name, std::vector<dtype> component_types,
                      int64_t capacity, std::vector<partial_shape> shapes,
                      const std::string& container) {
  return make_queue(s, "fifo_queue", name, std::move(component_types), std::move(shapes),
                    container, {{"capacity", capacity}});
}

queue make_random_shuffle_queue(const scope& s, const std::string& name,
                                std::vector<dtype> component_types, int64_t capacity,
                                int64_t min_after_dequeue, int64_t seed,
                                std::vector<partial_shape> shapes, const std::string& container) {
  return make_queue(s, "random_shuffle_queue", name, std::move(component_types),
                    std::move(shapes), container,
                    {{"capacity", capacity},
                     {"min_after_dequeue", min_after_dequeue},
                     {"seed", seed}});
}

namespace ops {
namespace {

operation enqueue(const scope& s, const char* op, const queue& q,
                  const std::vector<output>& components) {
  attr_map a = target_of(q);
  a["Tcomponents"] = q.component_types;
  a["shapes"] = encode_queue_shapes(q.shapes);
  return after_create(s, q).add(op, components, std::move(a));
}

std::vector<output> outputs_of(const operation& op) {
  std::vector<output> out;
  for (int i = 0; i < op.num_outputs(); ++i) out.push_back(op.out(i));
  return out;
}

}  // namespace

operation queue_enqueue(const scope& s, const queue& q, const std::vector<output>& components) {
  return enqueue(s, "queue_enqueue", q, components);
}

operation queue_enqueue_many(const scope& s, const queue& q,
                             const std::vector<output>& components) {
  return enqueue(s, "queue_enqueue_many", q, components);
}

std::vector<output> queue_dequeue(const scope& s, const queue& q) {
  attr_map a = target_of(q);
  a["component_types"] = q.component_types;
  a["shapes"] = encode_queue_shapes(q.shapes);
  return outputs_of(after_create(s, q).add("queue_dequeue", {}, std::move(a)));
}

std::vector<output> queue_dequeue_many(const scope& s, const queue& q, int64_t n,
                                       bool allow_smaller_final_batch) {
  attr_map a = target_of(q);
  a["component_types"] = q.component_types;
  a["shapes"] = encode_queue_shapes(q.shapes);
  a["n"] = n;
  a["allow_smaller_final_batch"] = allow_smaller_final_batch;
  return outputs_of(after_create(s, q).add("queue_dequeue_many", {}, std::move(a)));
}

operation queue_close(const scope& s, const queue& q, bool cancel_pending_enqueues) {
  attr_map a = target_of(q);
  a["cancel_pending_enqueues"] = cancel_pending_enqueues;
  return after_create(s, q).add("queue_close", {}, std::move(a));
}

output queue_size(const scope& s, const queue& q) {
  return after_create(s, q).add1("queue_size", {}, target_of(q));
}

}  // namespace ops
}  // namespace troupe
