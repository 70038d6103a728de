#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/core/tensor.hpp"

namespace troupe {

/// Something stateful that outlives a step and is shared by the kernels of a device:
/// a variable, a queue. Looked up by (container, name). See Note [Resource containers].
class resource {
 public:
  virtual ~resource() = default;
  /// "variable", "fifo_queue", ...: named in error messages.
  virtual std::string_view kind() const = 0;
};

// Note [Resource containers]
// As in the TensorFlow whitepaper, a device keeps its long-lived state in named
// containers: a resource is found by (container, name), where "" is the default
// container. Resetting a container drops every resource in it (the next step sees them
// uninitialized) while other containers keep theirs, so one device can hold the
// variables of several jobs or of a job and its evaluation side by side. A kernel looks
// its resource up when it runs (a shared lock and a map look-up), so a reset between
// steps is always seen.

/// The resource containers of one device. Thread-safety: every member may be called from
/// any thread.
class resource_mgr {
 public:
  /// The resource, or not_found naming the container and the name; failed_precondition if
  /// it exists with another kind.
  template <class R>
  expected<std::shared_ptr<R>> lookup(std::string_view container, std::string_view name) const {
    std::shared_ptr<resource> r = TROUPE_TRY(find(container, name));
    return checked_cast<R>(std::move(r), container, name);
  }
  /// The resource, created by `make` if it does not exist (under the lock: at most one
  /// thread creates it).
  template <class R>
  expected<std::shared_ptr<R>> lookup_or_create(
      std::string_view container, std::string_view name,
      const std::function<expected<std::shared_ptr<R>>()>& make) {
    std::shared_ptr<resource> r = TROUPE_TRY(find_or_create(
        container, name, [&]() -> expected<std::shared_ptr<resource>> {
          std::shared_ptr<R> made = TROUPE_TRY(make());
          return std::shared_ptr<resource>(std::move(made));
        }));
    return checked_cast<R>(std::move(r), container, name);
  }
  /// Adds or replaces a resource.
  void put(std::string_view container, std::string_view name, std::shared_ptr<resource> r);
  /// Removes one resource; false if there was none.
  bool erase(std::string_view container, std::string_view name);
  /// Drops every resource of a container; returns how many there were.
  size_t reset(std::string_view container);
  /// The containers holding at least one resource, sorted.
  std::vector<std::string> containers() const;
  /// The resources of a container by name, sorted by name.
  std::vector<std::pair<std::string, std::shared_ptr<resource>>> list(
      std::string_view container) const;

  /// "container 'c'" or "the default container": for error messages.
  static std::string describe_container(std::string_view container);

 private:
  expected<std::shared_ptr<resource>> find(std::string_view container,
                                           std::string_view name) const;
  expected<std::shared_ptr<resource>> find_or_create(
      std::string_view container, std::string_view name,
      const std::function<expected<std::shared_ptr<resource>>()>& make);
  template <class R>
  static expected<std::shared_ptr<R>> checked_cast(std::shared_ptr<resource> r,
                                                   std::string_view container,
                                                   std::string_view name) {
    auto typed = std::dynamic_pointer_cast<R>(r);
    if (!typed) {
      return make_error(errc::failed_precondition, "resource '", name, "' in ",
                        describe_container(container), " is a ", r->kind(),
                        ", not the kind this op uses");
    }
    return typed;
  }

  mutable std::shared_mutex mu_;
  std::map<std::string, std::map<std::string, std::shared_ptr<resource>, std::less<>>, std::less<>>
      containers_;
};

/// A variable: a tensor that keeps its value across steps. A read gives a snapshot that
/// later updates never change (they copy the buffer first if a snapshot still holds it,
/// and write in place otherwise), so every reader of one read sees one consistent value.
/// Thread-safety: all members may be called from any thread.
class variable_resource final : public resource {
 public:
  /// `shape` may be partial: the first assignment fixes the rest.
  variable_resource(dtype t, partial_shape shape) : type_(t), declared_(std::move(shape)) {}
  std::string_view kind() const override { return "variable"; }

  dtype type() const { return type_; }
  const partial_shape& declared_shape() const { return declared_; }
  bool initialized() const;
  /// A snapshot of the value; failed_precondition if never assigned (the message says to
  /// run the initializer or restore a checkpoint). `name` is for the message.
  expected<tensor> read(std::string_view name) const;
  /// Replaces the value; the dtype must be the variable's and the shape must fit the
  /// declared shape (and equal the current shape once initialized, unless
  /// `allow_reshape`).
  error assign(tensor value, std::string_view name, bool allow_reshape = false);

  /// Exclusive access for an in-place update (optimizers, assign_add, scatter): holds
  /// the variable's lock; value() is then safe to write (copied first if a snapshot
  /// still shares its buffer).
  class update_guard {
   public:
    tensor& value() { return *value_; }

   private:
    friend class variable_resource;
    update_guard(std::unique_lock<std::mutex> lock, tensor* v) : lock_(std::move(lock)), value_(v) {}
    std::unique_lock<std::mutex> lock_;
    tensor* value_;
  };
  /// failed_precondition if the variable is not initialized.
  expected<update_guard> begin_update(std::string_view name);

 private:
  dtype type_;
  partial_shape declared_;
  mutable std::mutex mu_;
  tensor value_;  // invalid until assigned
};

}  // namespace troupe
