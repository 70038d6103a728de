#include "runtime/exec/queue.hpp"

#include <algorithm>

namespace troupe {
namespace {

std::string dtype_list(std::span<const dtype> types) {
  std::string out = "[";
  for (size_t i = 0; i < types.size(); ++i) out += str_cat(i ? "," : "", dtype_name(types[i]));
  return out + "]";
}

std::string shape_list(std::span<const partial_shape> shapes) {
  if (shapes.empty()) return "any";
  std::string out = "[";
  for (size_t i = 0; i < shapes.size(); ++i) out += str_cat(i ? ", " : "", shapes[i].to_string());
  return out + "]";
}

std::string capacity_text(int64_t capacity) {
  return capacity < 0 ? std::string("unbounded") : str_cat(capacity);
}

// The declared shape of one element's component with a leading unknown batch dimension.
partial_shape batch_of(const partial_shape& s) {
  if (!s.rank_known() || s.rank() >= max_rank) return partial_shape::unknown();
  std::vector<int64_t> dims{-1};
  dims.insert(dims.end(), s.dims().begin(), s.dims().end());
  return partial_shape(std::span<const int64_t>(dims));
}

}  // namespace

error queue_config::validate(std::string_view queue) const {
  TROUPE_REQUIRE(!component_types.empty(), "queue '", queue,
                 "': component_types is empty: a queue needs at least one component");
  for (size_t i = 0; i < component_types.size(); ++i)
    TROUPE_REQUIRE(component_types[i] != dtype::invalid, "queue '", queue, "': component ", i,
                   " has no dtype");
  TROUPE_REQUIRE(shapes.empty() || shapes.size() == component_types.size(), "queue '", queue,
                 "' has ", component_types.size(), " components ", dtype_list(component_types),
                 " but ", shapes.size(), " shapes ", shape_list(shapes),
                 ": give one shape per component, or none");
  TROUPE_REQUIRE(capacity == -1 || capacity >= 1, "queue '", queue,
                 "': capacity must be >= 1, or -1 for unbounded, got ", capacity);
  if (shuffle) {
    TROUPE_REQUIRE(min_after_dequeue >= 0, "queue '", queue,
                   "': min_after_dequeue must be >= 0, got ", min_after_dequeue);
    TROUPE_REQUIRE(capacity < 0 || min_after_dequeue < capacity, "queue '", queue,
                   "': min_after_dequeue (", min_after_dequeue,
                   ") must be below the capacity (", capacity,
                   "), or no dequeue could ever take an element");
  }
  return {};
}

std::vector<int64_t> encode_queue_shapes(std::span<const partial_shape> shapes) {
  std::vector<int64_t> out;
  for (const partial_shape& s : shapes) {
    out.push_back(s.rank());  // -1 for an unknown rank, then no dimensions
    out.insert(out.end(), s.dims().begin(), s.dims().end());
  }
  return out;
}

expected<std::vector<partial_shape>> decode_queue_shapes(std::span<const int64_t> encoded) {
  std::vector<partial_shape> out;
  for (size_t i = 0; i < encoded.size();) {
    const int64_t rank = encoded[i];
    TROUPE_REQUIRE(rank >= -1 && rank <= max_rank, "shapes: position ", i, " holds rank ", rank,
                   " of component ", out.size(), ": expected -1 (unknown) to ", max_rank,
                   " (the encoding is each component's rank followed by its dimensions)");
    ++i;
    if (rank < 0) {
      out.push_back(partial_shape::unknown());
      continue;
    }
    TROUPE_REQUIRE(i + size_t(rank) <= encoded.size(), "shapes: component ", out.size(),
                   " has rank ", rank, " but only ", encoded.size() - i,
                   " dimensions follow (the encoding is each component's rank followed by its "
                   "dimensions)");
    auto dims = encoded.subspan(i, size_t(rank));
    auto s = partial_shape::make(dims);
    if (!s) return std::move(s).error_value().with_context(str_cat("shapes: component ", out.size()));
    out.push_back(*s);
    i += size_t(rank);
  }
  return out;
}

queue_resource::queue_resource(std::string name, queue_config config)
    : name_(std::move(name)), config_(std::move(config)) {
  if (config_.seed != 0) {
    rng_.seed(uint64_t(config_.seed));
  } else {
    std::random_device rd;
    rng_.seed((uint64_t(rd()) << 32) ^ rd());
  }
}

std::string_view queue_resource::kind() const {
  return config_.shuffle ? "random_shuffle_queue" : "fifo_queue";
}

error queue_resource::check_same_config(const queue_config& other) const {
  if (other == config_) return {};
  auto describe = [](const queue_config& c) {
    std::string out = str_cat(c.shuffle ? "random_shuffle_queue" : "fifo_queue", " of ",
                              dtype_list(c.component_types), ", shapes ", shape_list(c.shapes),
                              ", capacity ", capacity_text(c.capacity));
    if (c.shuffle)
      out += str_cat(", min_after_dequeue ", c.min_after_dequeue, ", seed ", c.seed);
    return out;
  };
  return make_error(errc::failed_precondition, "queue '", name_, "' already exists as a ",
                    describe(config_), "; this op declares a ", describe(other));
}

expected<int64_t> queue_resource::check_components(std::span<const tensor* const> components,
                                                   bool batched) const {
  const auto& types = config_.component_types;
  TROUPE_REQUIRE(components.size() == types.size(), "queue '", name_, "' has ", types.size(),
                 " components ", dtype_list(types), ", got ", components.size(), " tensors");
  int64_t count = 1;
  for (size_t i = 0; i < components.size(); ++i) {
    const tensor& t = *components[i];
    TROUPE_REQUIRE(t.dtype() == types[i], "queue '", name_, "': component ", i, " must be ",
                   dtype_name(types[i]), ", got ", dtype_name(t.dtype()));
    if (batched) {
      TROUPE_REQUIRE(t.rank() >= 1, "queue '", name_, "': enqueue_many splits components along ",
                     "dimension 0, but component ", i, " is a scalar");
      if (i == 0) count = t.dim(0);
      TROUPE_REQUIRE(t.dim(0) == count, "queue '", name_, "': enqueue_many needs one batch size, ",
                     "but component 0 has ", count, " rows and component ", i, " has ", t.dim(0),
                     " (shapes ", components[0]->shape().to_string(), " and ",
                     t.shape().to_string(), ")");
    }
    if (config_.shapes.empty()) continue;
    const partial_shape& want = config_.shapes[i];
    if (!batched) {
      TROUPE_REQUIRE(want.is_compatible_with(t.shape()), "queue '", name_, "': component ", i,
                     " must have shape ", want.to_string(), ", got ", t.shape().to_string());
      continue;
    }
    bool ok = !want.rank_known() || want.rank() == t.rank() - 1;
    for (int d = 0; ok && want.rank_known() && d < want.rank(); ++d)
      ok = want.dim(d) < 0 || want.dim(d) == t.dim(d + 1);
    TROUPE_REQUIRE(ok, "queue '", name_, "': component ", i, " must have shape ",
                   batch_of(want).to_string(), " (a batch of ", want.to_string(), "), got ",
                   t.shape().to_string());
  }
  return count;
}

error queue_resource::enqueue(std::vector<queue_element> elements) {
  {
    std::lock_guard lock(mu_);
    if (closed_)
      return make_error(errc::failed_precondition, "queue '", name_,
                        "' is closed: no more elements can be enqueued");
  }
  // Waiting for the turn counts as pending: a close without cancel lets it finish.
  std::lock_guard turn(enqueue_turn_);
  std::unique_lock lock(mu_);
  size_t next = 0;
  while (next < elements.size()) {
    if (cancelled_)
      return make_error(errc::cancelled, "queue '", name_,
                        "' was closed with cancel_pending_enqueues while this enqueue waited "
                        "for room; ", next, " of its ", elements.size(), " elements went in");
    size_t room = elements.size() - next;
    if (config_.capacity >= 0)
      room = std::min(room, size_t(std::max<int64_t>(0, config_.capacity - int64_t(elements_.size()))));
    if (room == 0) {
      not_full_.wait(lock);
      continue;
    }
    for (size_t i = 0; i < room; ++i) elements_.push_back(std::move(elements[next++]));
    not_empty_.notify_all();
  }
  return {};
}

queue_element queue_resource::take_one() {
  if (!config_.shuffle || elements_.size() == 1) {
    queue_element e = std::move(elements_.front());
    elements_.pop_front();
    return e;
  }
  // Uniform in [0, size): the high half of a 64x64-bit product (no modulo bias worth
  // naming, and the same on every platform, unlike std::uniform_int_distribution).
  const uint64_t r = rng_();
  const size_t i = size_t((unsigned __int128)r * elements_.size() >> 64);
  std::swap(elements_[i], elements_.back());
  queue_element e = std::move(elements_.back());
  elements_.pop_back();
  return e;
}

void queue_resource::put_back(std::vector<queue_element>& taken) {
  if (config_.shuffle) {
    for (queue_element& e : taken) elements_.push_back(std::move(e));
  } else {
    for (auto it = taken.rbegin(); it != taken.rend(); ++it) elements_.push_front(std::move(*it));
  }
  taken.clear();
}

std::string queue_resource::fewer_than(int64_t n) const {
  return str_cat("queue '", name_, "' is closed and has ", elements_.size(), " elements, fewer than ",
                 n);
}

expected<std::vector<queue_element>> queue_resource::dequeue(int64_t n, bool allow_smaller,
                                                              bool same_shapes) {
  TROUPE_REQUIRE(n >= 1, "queue '", name_, "': cannot dequeue ", n, " elements");
  std::lock_guard turn(dequeue_turn_);
  std::unique_lock lock(mu_);
  std::vector<queue_element> taken;
  taken.reserve(size_t(std::min<int64_t>(n, 1 << 16)));
  for (;;) {
    const size_t keep = config_.shuffle && !closed_ ? size_t(config_.min_after_dequeue) : 0;
    bool took = false;
    while (int64_t(taken.size()) < n && elements_.size() > keep) {
      taken.push_back(take_one());
      took = true;
    }
    if (took) not_full_.notify_all();
    if (int64_t(taken.size()) == n) break;
    if (closed_) {
      if (allow_smaller && !taken.empty()) break;
      put_back(taken);
      return make_error(errc::out_of_range, fewer_than(n));
    }
    not_empty_.wait(lock);
  }
  if (same_shapes) {
    for (size_t c = 0; c < config_.component_types.size(); ++c) {
      for (size_t i = 1; i < taken.size(); ++i) {
        if (taken[i][c].shape() == taken[0][c].shape()) continue;
        error e = make_error(errc::invalid_argument, "queue '", name_,
                             "': cannot stack component ", c, " of ", taken.size(),
                             " elements: element ", i, " has shape ",
                             taken[i][c].shape().to_string(), " but element 0 has ",
                             taken[0][c].shape().to_string(),
                             " (declare the queue's shapes to catch this on enqueue)");
        put_back(taken);
        not_empty_.notify_all();
        return e;
      }
    }
  }
  return taken;
}

void queue_resource::close(bool cancel_pending_enqueues) {
  std::lock_guard lock(mu_);
  closed_ = true;
  if (cancel_pending_enqueues) cancelled_ = true;
  not_empty_.notify_all();
  not_full_.notify_all();
}

bool queue_resource::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

int64_t queue_resource::size() const {
  std::lock_guard lock(mu_);
  return int64_t(elements_.size());
}

}  // namespace troupe
